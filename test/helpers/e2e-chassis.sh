#!/bin/bash
# chassis_control program for OpenIPMI ipmi_sim in the e2e lab (lan.conf "chassis_control"): the BMC
# powers a PXE-bootable QEMU VM on a tap of the lab bridge. Adapted from test/power/fixtures/bmc-chassis.sh
# (same protocol and pitfalls): ipmi_sim reads our stdout until EOF and is single-threaded meanwhile,
# so nothing left running may hold stdout and every call returns fast.
#   e2e-chassis.sh <dir> get <parm>...          -> prints "<parm>:<value>"
#   e2e-chassis.sh <dir> set <parm> "<value>"   -> rc 0 = ok
# <dir>/vm.env: VM_NAME QMPPORT MEM CPUS TAP MAC DISK SMBIOS
set -u
dir=${1:?instance dir}; op=${2:?op}; shift 2
. "$dir/vm.env"
pidf=$dir/qemu.pid bootf=$dir/bootdev log=$dir/chassis.log
exec 9>"$dir/chassis.lock"; flock -w 10 9 || { echo "lock timeout"; exit 1; }
echo "$(date +%s.%N) BEGIN $op $*" >>"$log"
trap 'echo "$(date +%s.%N) END $op" >>"$log"' EXIT

proc_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "-name $VM_NAME "; }
vm_pid() {
  local p; p=$(cat "$pidf" 2>/dev/null) || return 1
  proc_alive "$p" || return 1
  [ "$(cat "$dir/stopping" 2>/dev/null)" = "$p" ] && return 1
  echo "$p"
}
qmp() {
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$QMPPORT"' || exit 1
    printf "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"%s\"}\n" "$1" >&3
    head -n 3 <&3' _ "$1" >>"$log" 2>&1
}
power_on() {
  vm_pid >/dev/null && return 0
  local old i; old=$(cat "$dir/stopping" 2>/dev/null || true)
  for i in $(seq 30); do proc_alive "$old" || break; sleep 0.1; done
  proc_alive "$old" && kill -KILL "$old"
  for i in $(seq 20); do proc_alive "$old" || break; sleep 0.1; done
  rm -f "$dir/stopping" "$pidf"
  # The BMC's boot device: pxe → the NIC first; otherwise the disk first (it is empty, so SeaBIOS
  # falls through to the NIC anyway, as a blank server would).
  local order=c
  case "$(cat "$bootf" 2>/dev/null || echo default)" in pxe) order=n ;; esac
  echo "$order" >"$dir/last-boot-order"
  date +%s.%N >>"$dir/power-on.log"
  (
  for f in /proc/$BASHPID/fd/*; do f=${f##*/}; [ "$f" -gt 2 ] && eval "exec $f>&-"; done 2>/dev/null
  exec setsid qemu-system-x86_64 -accel tcg -machine pc -m "$MEM" -smp "$CPUS" -name "$VM_NAME" \
    -nographic -monitor none -serial "file:$dir/serial.log" \
    -qmp "tcp:127.0.0.1:$QMPPORT,server=on,wait=off" -boot "order=$order" \
    -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$MAC" \
    -drive "file=$DISK,if=virtio,format=qcow2" -smbios "$SMBIOS" \
    -pidfile "$pidf" </dev/null >>"$dir/qemu.log" 2>&1
  ) &
  for i in $(seq 50); do vm_pid >/dev/null && return 0; sleep 0.1; done
  echo "qemu did not start"; return 1
}
power_off() { local p; p=$(vm_pid) || return 0; echo "$p" >"$dir/stopping"; kill -TERM "$p"; }

case $op in
  get)
    for parm in "$@"; do
      case $parm in
        power) if vm_pid >/dev/null; then echo "power:1"; else echo "power:0"; fi ;;
        boot) echo "boot:$(cat "$bootf" 2>/dev/null || echo default)" ;;
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
    done ;;
  set)
    while [ $# -gt 0 ]; do
      parm=$1 val=${2:-}; shift 2 || { echo "missing value for $parm"; exit 1; }
      case $parm in
        power) if [ "$val" = 1 ]; then power_on || exit 1; else power_off; fi ;;
        reset) vm_pid >/dev/null && qmp system_reset ;;
        shutdown) vm_pid >/dev/null && qmp system_powerdown ;;
        boot) case $val in none|pxe|default|cdrom|bios) echo "$val" >"$bootf"; echo "$(date +%s.%N) $val" >>"$dir/bootdev.log" ;;
                *) echo "Invalid boot value: $val"; exit 1 ;; esac ;;
        identify) : ;;
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
    done ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
