#!/usr/bin/env bash
# vagrant-lab.sh — the vagrant: driver e2e test's own lab: real Vagrant + vagrant-libvirt + libvirtd
# (QEMU under TCG), libvirtd inside a network namespace the test creates. Learned from the shared
# lab notes; nothing here reads ../shared. Installs nothing: scripts/install-deps.sh has the packages.
#
#   vagrant-lab.sh build-box   build $BRKVG_DIR/tiny.box (Debian cloud kernel + busybox/dropbear initramfs)
#   vagrant-lab.sh up          netns + veth + virtlogd + libvirtd (in the netns) + routed network + pool + box add
#   vagrant-lab.sh down        destroy what `up` made (by the pids and markers it recorded), delete the netns
#
# Environment (the TS helper sets it): BRKVG_DIR (state dir), BRKVG_NS (netns, prefix brkvg),
# BRKVG_NET (third octet N: guests on 10.213.N.0/24, the host↔netns veth on 10.214.N.0/30).
#
# Differences from a plain libvirt setup, and why:
#  - libvirtd runs INSIDE the netns: even an isolated libvirt network edits the firewall, so its
#    iptables rules, bridge, dnsmasq and QEMU must all live in the test's namespace.
#  - the network is <forward mode='route'> and a veth pair joins the host to the netns, with ONE host
#    route (guest /24 via the veth) that dies with the veth. So the driver's own SSH client in the
#    test process reaches the guests; nothing is NATed and the host's firewall is never touched.
#  - no systemd: daemons are started with -d and a pid file, and stopped by those pids.
#  - libvirt resolves its default user "libvirt-qemu" before reading qemu.conf; without the
#    libvirt-daemon-system package there is none, so `up` creates it (and `down` removes it).
#  - `management_network_keep`: otherwise `vagrant destroy` deletes the network with the last VM.
#  - the box keeps /root on its disk: `up` replaces Vagrant's insecure key, and a guest that forgot
#    the new key would make the next `vagrant up` loop on "Authentication failure".
set -euo pipefail
: "${BRKVG_DIR:?}" "${BRKVG_NS:?}" "${BRKVG_NET:?}"
case $BRKVG_NS in brkvg*) ;; *) echo "BRKVG_NS must start with brkvg" >&2; exit 2 ;; esac
NS=$BRKVG_NS
N=$BRKVG_NET
NET=$NS                       # libvirt network name == management_network_name
POOL=$NS
BR=${NS}b                     # bridge inside the netns
VH=${NS}h                     # veth, host side
VN=${NS}n                     # veth, netns side
SUBNET=10.213.$N
LINK=10.214.$N
export VAGRANT_HOME=$BRKVG_DIR/vagrant.d
export LIBVIRT_DEFAULT_URI=qemu:///system
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${BRKVG_CACHE:-/tmp/bootrack-vagrant-cache}
QEMU_CONF=/etc/libvirt/qemu.conf
STATE_DIRS="/etc/libvirt/nwfilter /etc/libvirt/secrets /etc/libvirt/qemu /etc/libvirt/storage /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /run/libvirt"
RUN=$BRKVG_DIR/run

log() { printf '[brkvg %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
nsx() { ip netns exec "$NS" "$@"; }
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do ((SECONDS < end)) || return 1; sleep 0.2; done; }

vagrant_keys() {
  local k
  k=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -path '*/keys/vagrant.pub' 2>/dev/null | head -n1 || true)
  [[ -n $k ]] || die "Vagrant's insecure key vagrant.pub not found: install vagrant (scripts/install-deps.sh)"
  dirname "$k"
}

build_box() {
  mkdir -p "$CACHE" "$BRKVG_DIR/box"
  local kdir=$CACHE/kernel
  if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
    local pkg
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [[ -n $pkg ]] || die "apt knows no linux-image-cloud-amd64 (run apt-get update)"
    rm -rf "$CACHE/dl"; mkdir -p "$CACHE/dl"
    (cd "$CACHE/dl" && apt-get download "$pkg" >/dev/null) || die "apt-get download $pkg failed"
    rm -rf "$kdir.tmp"; dpkg -x "$CACHE"/dl/"$pkg"_*.deb "$kdir.tmp" && mv "$kdir.tmp" "$kdir"
    rm -rf "$CACHE/dl"
  fi
  local kver; kver=$(basename "$(ls -d "$kdir"/lib/modules/*)")
  local mods=$kdir/lib/modules/$kver/kernel
  local r=$BRKVG_DIR/initramfs
  rm -rf "$r"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/dropbear,lib/modules,proc,sys,dev,run,tmp,var/log,root/.ssh}
  cp /bin/busybox "$r/bin/"
  local a b lib m
  for a in $("$r/bin/busybox" --list); do [[ -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"; done
  for b in /usr/sbin/dropbear /usr/bin/dropbearkey /usr/bin/scp; do
    [[ -x $b ]] || die "$b missing: install dropbear-bin and openssh-client"
    cp "$b" "$r$b"
    for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
      [[ -e $r$lib ]] || { mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; }
    done
  done
  for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
           drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover \
           drivers/net/net_failover drivers/net/virtio_net drivers/block/virtio_blk; do
    cp "$mods/$m.ko" "$r/lib/modules/"
  done
  install -m 755 "$HERE/vagrant-guest-init.sh" "$r/init"
  # What Vagrant's Linux guest plugin runs: sudo (shim: already root), shutdown (PID 1 is a shell
  # script, so power off from the kernel a moment after the ssh command returned), bash (→ sh).
  printf '#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -u|-g|-p|-C|-D|-h|-U) shift 2 ;; --) shift; break ;; -*) shift ;; *) break ;; esac; done\nexec "$@"\n' >"$r/usr/bin/sudo"
  printf '#!/bin/sh\n( sleep 1; sync; poweroff -f ) >/dev/null 2>&1 </dev/null &\nexit 0\n' >"$r/sbin/shutdown"
  printf '#!/bin/sh\nexec /bin/sh "$@"\n' >"$r/bin/bash"
  cat >"$r/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case $1 in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "${router%% *}" dev "$interface"; fi ;;
esac
exit 0
EOF
  chmod 755 "$r/usr/bin/sudo" "$r/sbin/shutdown" "$r/bin/bash" "$r/etc/udhcpc.script"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\n' >"$r/etc/group"
  printf '/bin/sh\n/bin/bash\n' >"$r/etc/shells"
  printf 'NAME="tiny"\nID=tiny\nVERSION_ID=1\nPRETTY_NAME="bootrack tiny vagrant box"\n' >"$r/etc/os-release"
  cp "$(vagrant_keys)/vagrant.pub" "$r/root/.ssh/authorized_keys"
  chmod 700 "$r/root" "$r/root/.ssh"; chmod 600 "$r/root/.ssh/authorized_keys"
  (cd "$r" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet | gzip -6) >"$BRKVG_DIR/box/initrd.img"
  cp -f "$kdir/boot/vmlinuz-$kver" "$BRKVG_DIR/box/vmlinuz"
  rm -f "$BRKVG_DIR/box/box.img"
  qemu-img create -q -f qcow2 "$BRKVG_DIR/box/box.img" 1G
  printf '{"provider":"libvirt","format":"qcow2","virtual_size":1}\n' >"$BRKVG_DIR/box/metadata.json"
  cat >"$BRKVG_DIR/box/Vagrantfile" <<EOF
# The box's own Vagrantfile (merged under each machine's): everything the lab needs, so the
# driver-written <name>.vm only says vm.box = "tiny".
Vagrant.configure("2") do |config|
  config.vm.guest = :linux
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.boot_timeout = 180
  config.ssh.username = "root"
  config.ssh.shell = "sh"
  config.vm.provider :libvirt do |lv|
    lv.uri = "qemu:///system"
    lv.driver = "qemu"                  # TCG: /dev/kvm exists here but KVM guests hang
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
    lv.cpu_fallback = "allow"
    lv.memory = 256
    lv.cpus = 1
    lv.graphics_type = "none"
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = "console=ttyS0,115200 panic=10"
    lv.management_network_name = "$NET"
    lv.management_network_address = "$SUBNET.0/24"
    lv.management_network_mode = "route"
    lv.management_network_guest_ipv6 = "no"
    lv.management_network_keep = true
    lv.storage_pool_name = "$POOL"
  end
end
EOF
  tar -C "$BRKVG_DIR/box" -czf "$BRKVG_DIR/tiny.box" metadata.json Vagrantfile box.img vmlinuz initrd.img
  log "box $BRKVG_DIR/tiny.box ($(stat -c %s "$BRKVG_DIR/tiny.box") bytes, kernel $kver)"
}

up() {
  for t in libvirtd virtlogd virsh vagrant qemu-system-x86_64 qemu-img dnsmasq iptables; do
    command -v "$t" >/dev/null || die "$t not found: run scripts/install-deps.sh (vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients iptables qemu-utils qemu-system-x86 dnsmasq-base)"
  done
  vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt || die "the vagrant-libvirt plugin is missing: apt-get install vagrant-libvirt"
  if [[ -S /run/libvirt/libvirt-sock ]] && virsh -q version >/dev/null 2>&1; then
    die "another libvirtd already answers on /run/libvirt/libvirt-sock; this test runs its own (stop that one first)"
  fi
  mkdir -p "$RUN" "$BRKVG_DIR"/{etc,logs,pool}
  [[ -f $BRKVG_DIR/tiny.box ]] || build_box
  cat >"$BRKVG_DIR/etc/libvirtd.conf" <<EOF
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$BRKVG_DIR/logs/libvirtd.log"
EOF
  printf 'log_outputs = "3:file:%s/logs/virtlogd.log"\n' "$BRKVG_DIR" >"$BRKVG_DIR/etc/virtlogd.conf"
  cat >"$BRKVG_DIR/etc/net.xml" <<EOF
<network>
  <name>$NET</name>
  <forward mode='route'/>
  <bridge name='$BR' stp='off' delay='0'/>
  <ip address='$SUBNET.1' netmask='255.255.255.0'>
    <dhcp><range start='$SUBNET.100' end='$SUBNET.199'/></dhcp>
  </ip>
</network>
EOF
  printf "<pool type='dir'><name>%s</name><target><path>%s/pool</path></target></pool>\n" "$POOL" "$BRKVG_DIR" >"$BRKVG_DIR/etc/pool.xml"
  local p
  for p in $STATE_DIRS; do [[ -e $p ]] || echo "$p" >>"$RUN/created-dirs"; done
  if [[ ! -e $QEMU_CONF ]]; then
    mkdir -p /etc/libvirt
    printf '# written by bootrack test/helpers/vagrant-lab.sh (removed by its down)\nuser = "root"\ngroup = "root"\ndynamic_ownership = 0\nsecurity_driver = "none"\nnamespaces = [ ]\n' >"$QEMU_CONF"
    touch "$RUN/qemu.conf.ours"
  fi
  if ! getent passwd libvirt-qemu >/dev/null; then
    getent group libvirt-qemu >/dev/null || { groupadd --system libvirt-qemu; touch "$RUN/group.ours"; }
    useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu
    touch "$RUN/user.ours"
  fi
  if ! ip netns list | grep -qw "$NS"; then ip netns add "$NS"; touch "$RUN/netns.ours"; fi
  nsx ip link set lo up
  if ! ip link show "$VH" >/dev/null 2>&1; then
    ip link add "$VH" type veth peer name "$VN" netns "$NS"
    ip addr add "$LINK.1/30" dev "$VH"; ip link set "$VH" up
    nsx ip addr add "$LINK.2/30" dev "$VN"; nsx ip link set "$VN" up
    ip route add "$SUBNET.0/24" via "$LINK.2" dev "$VH"
  fi
  if ! pid_alive "$RUN/virtlogd.pid"; then
    nsx virtlogd -d -f "$BRKVG_DIR/etc/virtlogd.conf" -p "$RUN/virtlogd.pid"
    wait_for 10 test -S /run/libvirt/virtlogd-sock || die "virtlogd did not start"
  fi
  if ! pid_alive "$RUN/libvirtd.pid"; then
    nsx libvirtd -d -f "$BRKVG_DIR/etc/libvirtd.conf" -p "$RUN/libvirtd.pid"
    wait_for 60 virsh -q version || die "libvirtd did not answer; see $BRKVG_DIR/logs/libvirtd.log"
  fi
  virsh -q net-info "$NET" >/dev/null 2>&1 || virsh -q net-define "$BRKVG_DIR/etc/net.xml" >/dev/null
  local info; info=$(virsh -q net-info "$NET")
  [[ $info =~ Active:\ +yes ]] || virsh -q net-start "$NET" >/dev/null
  virsh -q pool-info "$POOL" >/dev/null 2>&1 || virsh -q pool-define "$BRKVG_DIR/etc/pool.xml" >/dev/null
  info=$(virsh -q pool-info "$POOL")
  [[ $info =~ State:\ +running ]] || virsh -q pool-start "$POOL" >/dev/null
  info=$(vagrant box list 2>/dev/null || true)
  [[ $'\n'$info =~ $'\n'tiny\  ]] || vagrant box add --force --name tiny "$BRKVG_DIR/tiny.box" >"$BRKVG_DIR/logs/box-add.log"
  log "lab up: netns $NS, network $NET ($SUBNET.0/24 routed via $VH), libvirtd pid $(cat "$RUN/libvirtd.pid")"
}

down() {
  local d v p
  if pid_alive "$RUN/libvirtd.pid"; then
    for d in "$BRKVG_DIR"/machines/*/; do
      [[ -d $d/.vagrant ]] && (cd "$d" && nsx vagrant destroy -f >/dev/null 2>&1 || true)
    done
    for d in $(virsh list --all --name 2>/dev/null); do
      virsh -q destroy "$d" >/dev/null 2>&1 || true
      virsh -q undefine "$d" >/dev/null 2>&1 || true
    done
    for d in "$NET" vagrant-libvirt; do virsh -q net-destroy "$d" >/dev/null 2>&1 || true; virsh -q net-undefine "$d" >/dev/null 2>&1 || true; done
    if virsh -q pool-info "$POOL" >/dev/null 2>&1; then
      for v in $(virsh -q vol-list "$POOL" | awk '{print $1}'); do virsh -q vol-delete "$v" --pool "$POOL" >/dev/null 2>&1 || true; done
      virsh -q pool-destroy "$POOL" >/dev/null 2>&1 || true
      virsh -q pool-undefine "$POOL" >/dev/null 2>&1 || true
    fi
  fi
  for d in libvirtd virtlogd; do
    if pid_alive "$RUN/$d.pid"; then
      p=$(cat "$RUN/$d.pid")
      kill "$p" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    fi
    rm -f "$RUN/$d.pid"
  done
  ip link del "$VH" 2>/dev/null || true
  if [[ -e $RUN/netns.ours ]]; then ip netns del "$NS" 2>/dev/null || true; rm -f "$RUN/netns.ours"; fi
  if [[ -e $RUN/user.ours ]]; then userdel libvirt-qemu 2>/dev/null || true; rm -f "$RUN/user.ours"; fi
  if [[ -e $RUN/group.ours ]]; then groupdel libvirt-qemu 2>/dev/null || true; rm -f "$RUN/group.ours"; fi
  if [[ -e $RUN/qemu.conf.ours ]]; then rm -f "$QEMU_CONF" "$RUN/qemu.conf.ours"; fi
  if [[ -s $RUN/created-dirs ]]; then sort -u "$RUN/created-dirs" | while read -r p; do rm -rf -- "$p"; done; rm -f "$RUN/created-dirs"; fi
  log "lab down"
}

cmd=${1:-}; shift || true
case $cmd in
  build-box) build_box ;;
  up) up ;;
  down) down ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
