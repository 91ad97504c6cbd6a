#!/usr/bin/env bash
# Regenerates the golden DISCOVER captures (testdata/dhcp/*.pcap) from real firmware under QEMU/TCG.
# Everything happens inside netns brkdh-cap (bridge + taps); no DHCP server answers, so each firmware
# keeps sending DISCOVERs, which tcpdump records. Usage: testdata/dhcp/capture.sh [seconds]
set -euo pipefail
secs=${1:-45}
out=$(cd "$(dirname "$0")" && pwd)
ns=brkdh-cap
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [[ -s $f ]] && kill "$(cat "$f" 2>/dev/null)" 2>/dev/null; done; true
  sleep 1
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge forward_delay 0
ip -n "$ns" link set br0 up
start_vm() { # name idx firmware
  local name=$1 idx=$2 fw=$3 tap=tap$2 mac uuid fwargs=() nicrom=""
  mac=$(printf '52:54:00:dd:00:%02x' "$idx"); uuid=$(printf '7e57ab1e-0000-4000-8000-%012d' "$idx")
  ip -n "$ns" tuntap add dev "$tap" mode tap
  ip -n "$ns" link set "$tap" master br0 up
  case $fw in
    bios) fwargs=(-boot n) ;;
    uefi|uefi-native)
      cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/$name.vars"
      fwargs=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
              -drive "if=pflash,format=raw,unit=1,file=$work/$name.vars")
      [[ $fw == uefi-native ]] && nicrom=",romfile=" ;;
  esac
  setsid ip netns exec "$ns" qemu-system-x86_64 -name "$name" -accel tcg -machine pc -m 256 -smp 1 \
    -nographic -monitor none -serial null -pidfile "$work/$name.pid" \
    -netdev tap,id=n0,ifname="$tap",script=no,downscript=no \
    -device "virtio-net-pci,netdev=n0,mac=$mac$nicrom,bootindex=1" \
    -smbios "type=1,manufacturer=BrkLab,product=Cap,uuid=$uuid" "${fwargs[@]}" </dev/null >/dev/null 2>&1 &
  pids+=($!)
}
setsid ip netns exec "$ns" tcpdump -i br0 -U -s 0 -w "$work/all.pcap" 'udp port 67 or udp port 68' </dev/null >/dev/null 2>&1 &
pids+=($!)
sleep 1
start_vm seabios-ipxe 1 bios
start_vm ovmf-pxe 2 uefi-native
start_vm ipxe-efi 3 uefi
sleep "$secs"
kill -- "-${pids[0]}" 2>/dev/null || true
sleep 1
for pair in seabios-ipxe:01 ovmf-pxe:02 ipxe-efi:03; do
  name=${pair%%:*}; idx=${pair##*:}
  tcpdump -r "$work/all.pcap" -w "$out/$name.pcap" "ether src 52:54:00:dd:00:$idx" 2>/dev/null
  echo "$name: $(tcpdump -r "$out/$name.pcap" 2>/dev/null | wc -l) packets"
done
