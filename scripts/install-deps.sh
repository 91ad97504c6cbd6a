#!/usr/bin/env bash
# Installs the Debian packages bootrack and its tests use. Safe to run twice.
# Services that the packages would start (dnsmasq, tftpd-hpa, nginx, kea) are kept stopped:
# tests start their own instances in network namespaces, and bootrack must own ports 67/69.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  # build
  python3 make g++ git ca-certificates
  # libc.a: native/build.sh links the discovery OS probe statically
  libc6-dev
  # the appliance's own runtime needs
  ipxe ipmitool freeipmi-tools openssl iproute2 nftables
  # real peers for tests
  curl atftp tftp-hpa isc-dhcp-client udhcpc busybox-static tcpdump openipmi
  openssh-server openssh-client dropbear-bin cpio
  # the discovery e2e's LLDP sender (run by the tests in their namespaces; its unit is disabled below)
  lldpd
  qemu-system-x86 ipxe-qemu ovmf
  # established servers the benchmarks and some tests compare against
  dnsmasq-base tftpd-hpa nginx-light kea-dhcp4-server kea-admin
  # the vagrant: driver's e2e test (real Vagrant + vagrant-libvirt + libvirtd under TCG, in a netns).
  # Not libvirt-daemon-system: it pulls systemd/polkit and an autostarted NAT network.
  vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients iptables qemu-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # policy-rc.d 101 stops maintainer scripts from starting daemons during install.
  restore_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    restore_policy=1
  fi
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ "$restore_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
# lldpd's unit would advertise this host on every real NIC at boot; tests run their own instance.
if command -v systemctl >/dev/null 2>&1; then systemctl disable lldpd >/dev/null 2>&1 || true; fi

# Node 20 is expected on the machine already (Debian's nodejs is 18); say so plainly if not.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "bootrack needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
