#!/bin/sh
# vagrant-guest-init.sh — /init of bootrack's tiny test Vagrant box (busybox sh, PID 1 of the
# initramfs), built by test/helpers/vagrant-lab.sh for the vagrant: driver's e2e test.
# Loads the virtio drivers, gets an address by DHCP from libvirt's dnsmasq, makes fresh
# dropbear host keys and runs dropbear with Vagrant's insecure public key for root.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/log
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
log() { echo "BRKVG init: $* (uptime $(cut -d' ' -f1 /proc/uptime))"; }
log start

# The Debian cloud kernel has virtio as modules; no modprobe/depmod in here, so the order matters.
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         failover net_failover virtio_net virtio_blk; do
  insmod /lib/modules/$m.ko 2>/dev/null || log "insmod $m failed"
done

# Persistent /root on the box disk (vda, a copy-on-write overlay of the box's blank box.img).
# Without it the guest is stateless, and the key `vagrant up` inserts is gone after `vagrant halt`,
# so the next `vagrant up` fails with "Authentication failure". First boot: make ext2 and seed it.
if [ -b /dev/vda ]; then
  mkdir -p /mnt/disk
  if ! mount -t ext4 /dev/vda /mnt/disk 2>/dev/null; then
    mke2fs -q -L tinyroot /dev/vda && mount -t ext4 /dev/vda /mnt/disk && log "vda formatted"
  fi
  if grep -q " /mnt/disk " /proc/mounts; then   # (busybox-static has no mountpoint applet)
    [ -d /mnt/disk/root ] || cp -a /root /mnt/disk/root
    mount --bind /mnt/disk/root /root
    log "/root is persistent (vda)"
  fi
fi

# first non-loopback NIC (the libvirt management network is always NIC 0)
IFACE=
n=0
while [ -z "$IFACE" ] && [ $n -lt 40 ]; do
  for p in /sys/class/net/*; do
    case ${p##*/} in lo) ;; *) IFACE=${p##*/}; break ;; esac
  done
  [ -n "$IFACE" ] || sleep 0.25
  n=$((n + 1))
done
hostname tiny
ip link set lo up
ip link set "$IFACE" up
log "iface $IFACE $(cat /sys/class/net/$IFACE/address)"
# -x hostname: dnsmasq records it in the lease (virsh net-dhcp-leases shows it)
udhcpc -i "$IFACE" -s /etc/udhcpc.script -x hostname:tiny -t 20 -T 2 -A 2 -b \
  || log "udhcpc failed"
log "ip $(ip -4 -o addr show dev "$IFACE" | awk '{print $4}')"

# fresh host keys on every boot (each machine differs); ecdsa + ed25519 are fast even under TCG
dropbearkey -t ecdsa -s 256 -f /etc/dropbear/ecdsa_host_key >/dev/null 2>&1
dropbearkey -t ed25519 -f /etc/dropbear/ed25519_host_key >/dev/null 2>&1
# -s: no password logins; -E: log to stderr; -F would keep it in the foreground
dropbear -r /etc/dropbear/ecdsa_host_key -r /etc/dropbear/ed25519_host_key -p 22 -s -E \
  2>>/var/log/dropbear.log
log "dropbear started"
log ready
# PID 1 must not exit. Reap zombies by looping on wait.
trap '' TERM INT HUP
while :; do sleep 3600 & wait $!; done
