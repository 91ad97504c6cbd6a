# facts.sh — hardware facts as the JSON body of POST /api/v1/agent/facts. Busybox sh; sourced after lib.sh.
# Shape: {"facts":{"cpu":{model,sockets,cores,threads},"memoryMib","disks":[{name,sizeBytes,model,serial,rotational}],
#         "nics":[{mac,driver,link,speedMbps}],"lldp":[],"dmi":{vendor,product,serial,uuid},
#         "bmc":{address}|null,"firmware":"bios"|"uefi","arch"},"mac"}   (the API's FactsRequest schema is strict)
SYS=${SYS:-/sys}
PROC=${PROC:-/proc}

facts_cpu() {
  model=$(grep -m1 '^model name' "$PROC/cpuinfo" | cut -d: -f2-)
  # arm64 has no "model name"; fall back to the SMBIOS processor version via DMI when present.
  [ -n "$model" ] || model=$(read_file "$SYS/class/dmi/id/product_family")
  threads=$(grep -c '^processor' "$PROC/cpuinfo")
  # topology/* exists per online CPU; a socket is a distinct package id, a core a distinct (package, core).
  pkgs= cores=
  for c in "$SYS"/devices/system/cpu/cpu[0-9]*; do
    [ -r "$c/topology/physical_package_id" ] || continue
    p=$(read_file "$c/topology/physical_package_id")
    pkgs="$pkgs$p
"
    cores="$cores$p:$(read_file "$c/topology/core_id")
"
  done
  sockets=$(printf '%s' "$pkgs" | grep -v '^$' | sort -u | wc -l)
  ncores=$(printf '%s' "$cores" | grep -v '^$' | sort -u | wc -l)
  [ "$sockets" -gt 0 ] 2>/dev/null || sockets=1
  [ "$ncores" -gt 0 ] 2>/dev/null || ncores=$threads
  printf '{"model":%s,"sockets":%s,"cores":%s,"threads":%s}' "$(json_str "$model")" "$(json_num "$sockets")" "$(json_num "$ncores")" "$(json_num "$threads")"
}

# Installed memory: online memory blocks × block size counts RAM the firmware reserved, unlike MemTotal
# (which loses the kernel's own image and reservations). Falls back to MemTotal.
facts_memory_mib() {
  bs=$(read_file "$SYS/devices/system/memory/block_size_bytes")
  n=0
  if [ -n "$bs" ]; then
    for m in "$SYS"/devices/system/memory/memory[0-9]*; do
      [ "$(read_file "$m/state")" = online ] && n=$((n + 1))
    done
  fi
  if [ "$n" -gt 0 ]; then
    json_num $((n * 0x$bs / 1048576))
  else
    json_num $(($(awk '/^MemTotal:/ {print $2}' "$PROC/meminfo") / 1024))
  fi
}

facts_disks() {
  sep=
  printf '['
  for d in "$SYS"/block/*; do
    [ -e "$d/size" ] || continue
    name=${d##*/}
    case $name in loop* | ram* | zram* | sr* | fd* | dm-* | md* | nbd*) continue ;; esac
    sectors=$(read_file "$d/size")
    model=$(read_file "$d/device/model")
    # serial: virtio-blk has /serial; NVMe device/serial; SCSI/SATA the unit serial VPD page 0x80
    serial=$(read_file "$d/serial")
    [ -n "$serial" ] || serial=$(read_file "$d/device/serial")
    [ -n "$serial" ] || { [ -r "$d/device/vpd_pg80" ] && serial=$(tail -c +5 "$d/device/vpd_pg80" | tr -d '\000'); }
    printf '%s{"name":%s,"sizeBytes":%s,"model":%s,"serial":%s,"rotational":%s}' "$sep" "$(json_str "$name")" \
      "$(json_num $((${sectors:-0} * 512)))" "$(json_str_or_null "$model")" "$(json_str_or_null "$serial")" \
      "$(json_bool "$(read_file "$d/queue/rotational")")"
    sep=,
  done
  printf ']'
}

facts_nics() {
  sep=
  printf '['
  for n in "$SYS"/class/net/*; do
    [ -e "$n/device" ] || continue # lo, bridges, bonds and tunnels have no backing device
    driver=
    [ -e "$n/device/driver" ] && driver=$(basename "$(readlink "$n/device/driver")")
    speed=$(read_file "$n/speed" 2>/dev/null)
    case $speed in -* | '') speed= ;; esac
    printf '%s{"mac":%s,"driver":%s,"link":%s,"speedMbps":%s}' "$sep" "$(json_str "$(read_file "$n/address")")" \
      "$(json_str_or_null "$driver")" "$(json_bool "$(read_file "$n/carrier" 2>/dev/null)")" "$(json_num "$speed")"
    sep=,
  done
  printf ']'
}

facts_dmi() {
  id=$SYS/class/dmi/id
  printf '{"vendor":%s,"product":%s,"serial":%s,"uuid":%s}' "$(json_str_or_null "$(read_file "$id/sys_vendor")")" \
    "$(json_str_or_null "$(read_file "$id/product_name")")" "$(json_str_or_null "$(read_file "$id/product_serial")")" \
    "$(json_str_or_null "$(read_file "$id/product_uuid" | tr 'A-F' 'a-f')")"
}

# A BMC is detected without ipmitool: SMBIOS type 38 (IPMI Device Information), /dev/ipmi0 from
# ipmi_si + ipmi_devintf, or /sys/class/ipmi. bmc_detection prints how (empty: no BMC seen).
bmc_detection() {
  if [ -e "$SYS/firmware/dmi/entries/38-0" ]; then echo smbios-type-38
  elif [ -e /dev/ipmi0 ]; then echo dev-ipmi0
  elif ls "$SYS"/class/ipmi/* >/dev/null 2>&1; then echo sysfs-ipmi
  fi
}

# The BMC's LAN address needs an IPMI "Get LAN Configuration Parameters" request, which busybox
# cannot send, and the API takes {address} or null; so this is null even when a BMC is detected
# (the agent logs the detection), and the appliance learns the address from the BMC side.
facts_bmc() {
  printf null
}

# LLDP needs raw frames (ethertype 0x88cc) and busybox has no packet capture, so none are reported.
facts_lldp() {
  printf '[]'
}

facts_firmware() {
  if [ -d "$SYS/firmware/efi" ]; then printf '"uefi"'; else printf '"bios"'; fi
}

# Debian architecture names (amd64, arm64), as the API and iPXE's ${buildarch} mapping use.
facts_arch() {
  case $(uname -m) in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    i?86) echo i386 ;;
    *) uname -m | tr -cd 'a-z0-9_' ;;
  esac
}

# collect_facts [BOOT_MAC] — the request body; with a MAC, also "mac" next to "facts".
collect_facts() {
  printf '{"facts":{"cpu":%s,"memoryMib":%s,"disks":%s,"nics":%s,"lldp":%s,"dmi":%s,"bmc":%s,"firmware":%s,"arch":%s}' \
    "$(facts_cpu)" "$(facts_memory_mib)" "$(facts_disks)" "$(facts_nics)" "$(facts_lldp)" "$(facts_dmi)" "$(facts_bmc)" \
    "$(facts_firmware)" "$(json_str "$(facts_arch)")"
  [ -n "$1" ] && printf ',"mac":%s' "$(json_str "$1")"
  printf '}\n'
}
