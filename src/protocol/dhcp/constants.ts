/** DHCP wire constants (RFC 2131, RFC 2132). */
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const HEADER_LENGTH = 236;
export const MAGIC_COOKIE = 0x63825363;
/** Offset of the first option byte (header + cookie). */
export const OPTIONS_OFFSET = 240;
/** RFC 951/1542: BOOTP relays and old clients drop messages shorter than 300 bytes. */
export const MIN_PACKET_LENGTH = 300;
/** RFC 2131 §2: every client must accept 576-byte IP datagrams; minus IP and UDP headers. */
export const DEFAULT_MAX_PAYLOAD = 576 - 28;
export const SNAME_OFFSET = 44;
export const SNAME_LENGTH = 64;
export const FILE_OFFSET = 108;
export const FILE_LENGTH = 128;
export const FLAG_BROADCAST = 0x8000;

export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE: 175,
  END: 255,
} as const;

export const MESSAGE_TYPES = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
} as const;

export type MessageType = (typeof MESSAGE_TYPES)[keyof typeof MESSAGE_TYPES];

export const MESSAGE_CODES: Record<MessageType, number> = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
};
