/**
 * LLDP golden frames (test data; imported by the unit and API tests only).
 *
 * Real LLDPDUs (the bytes after the Ethernet header, as `bootrack-probe lldp` prints them), sent by
 * Debian's lldpd 1.0.16 and received by `native/build/bootrack-probe lldp` on the far end of a veth
 * attached to the bridge lldpd ran on (two throw-away network namespaces):
 *
 *     ip netns exec NS1 lldpd -d -u SOCK -I BRIDGE -O CONF -S "brkds test switch"   # CONF: tx-interval 1, hostname brkds-switch
 *     ip netns exec NS2 native/build/bootrack-probe lldp VETH 4
 *
 * - `lldpdBridgeMacIds`: defaults — chassis ID and port ID are MACs, IPv4 + IPv6 management
 *   addresses, port description = the bridge name, two IEEE 802.3 org-specific TLVs, End.
 * - `lldpdLocalIds`: after `lldpcli configure system chassisid brkds-chassis-7`,
 *   `configure lldp portidsubtype local Gi1/0/7 description "uplink to rack 7"` and
 *   `configure system ip management pattern 10.250.0.1`.
 */
export const GOLDEN_LLDPDUS = {
  /** lldpd defaults. */
  lldpdBridgeMacIds: '0207049adfcc8dd4590407039adfcc8dd459060200040a0c62726b64732d7377697463680c1162726b64732074657374207377697463680e04009c0004100c05010afa000102000000020010181102fe8000000000000098dfccfffe8dd459020000000200080762726b64736272fe0900120f030100000000fe0900120f0100800000000000',
  /** lldpd with local chassis/port IDs and a port description. */
  lldpdLocalIds: '02100762726b64732d636861737369732d370408074769312f302f37060200040a0c62726b64732d7377697463680c1162726b64732074657374207377697463680e04009c0004100c05010afa0001020000000200081075706c696e6b20746f207261636b2037fe0900120f030100000000fe0900120f0100800000000000',
} as const;

/**
 * What lldpd advertised in `lldpdBridgeMacIds` (its own config, and `lldpcli show neighbors` on the
 * far end), as summarizeLldpdu renders it: the one expectation the codec and the API tests share.
 */
export const LLDPD_BRIDGE_MAC_IDS_SUMMARY = {
  chassisId: '9a:df:cc:8d:d4:59',
  chassisIdSubtype: 'macAddress',
  portId: '9a:df:cc:8d:d4:59',
  portIdSubtype: 'macAddress',
  ttl: 4, // tx-interval 1 s × hold multiplier 4
  portDescription: 'brkdsbr',
  systemName: 'brkds-switch',
  systemDescription: 'brkds test switch',
  capabilities: ['bridge'],
  managementAddresses: ['10.250.0.1', 'fe80::98df:ccff:fe8d:d459'],
} as const;
