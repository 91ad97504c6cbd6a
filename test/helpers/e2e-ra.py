#!/usr/bin/python3
"""IPv6 router advertisements on one interface of a test network namespace (radvd is not installed).

iPXE configures IPv4 and IPv6 in parallel and waits ~13 s for an RA before it goes on
(shared/lab/README.md pitfall 1). This sends an RA (RFC 4861 section 4.2) with a prefix-information
option for PREFIX/64 to ff02::1 every INTERVAL seconds, so iPXE's IPv6 autoconfiguration finishes at
once. Run only inside a namespace the test created:  e2e-ra.py IFACE PREFIX [INTERVAL] [COUNT]
The kernel fills in the ICMPv6 checksum for raw IPPROTO_ICMPV6 sockets (RFC 3542 section 3.1).
"""
import ipaddress
import socket
import struct
import sys
import time


def main() -> int:
    iface, prefix = sys.argv[1], ipaddress.IPv6Network(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 36000  # bounded: 10 h at 1 s
    ifindex = socket.if_nametoindex(iface)
    with open(f"/sys/class/net/{iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    # type 134, code 0, checksum 0, cur hop limit 64, flags 0, router lifetime 0 (not a default
    # router: nothing routes IPv6 here), reachable time 0, retrans timer 0
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0)
    ra += struct.pack("!BB6s", 1, 1, mac)  # source link-layer address option
    # prefix information: length 4 (32 bytes), /64, flags L+A, valid 1 day, preferred 4 h
    ra += struct.pack("!BBBBIII16s", 3, 4, prefix.prefixlen, 0xC0, 86400, 14400, 0, prefix.network_address.packed)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861: hop limit 255
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sent = 0
    for _ in range(count):
        try:
            s.sendto(ra, ("ff02::1", 0, 0, ifindex))
            sent += 1
        except OSError as e:  # the link-local address may still be tentative right after 'up'
            print(f"e2e-ra: send failed: {e}", file=sys.stderr, flush=True)
        if sent == 1:
            print(f"e2e-ra: sending RAs for {prefix} on {iface}", flush=True)
        time.sleep(interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
