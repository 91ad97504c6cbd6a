# facts.sh — hardware facts as the JSON body of POST /api/v1/agent/facts. Busybox sh; sourced after lib.sh.
# Shape: {"facts":{"cpu":{model,sockets,cores,threads},"memoryMib","disks":[{name,sizeBytes,model,serial,rotational}],
#         "nics":[{mac,driver,link,speedMbps}],"lldp":[],"lldpFrames":{iface:[hex LLDPDU]},
#         "dmi":{vendor,product,serial,uuid},"bmc":{address,mac?}|null,"firmware":"bios"|"uefi","arch"},"mac"}
#         (the API's FactsRequest schema is strict; it decodes lldpFrames into lldp neighbours)
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

# ---- LLDP and the BMC's LAN address: bootrack-probe (static C, native/probe) in the background ----
# busybox can neither capture raw frames nor talk to /dev/ipmi0, so the probe does both; the
# appliance decodes the raw LLDPDUs (src/protocol/lldp). Results land in $PROBE_RUN.
PROBE=${PROBE:-/usr/sbin/bootrack-probe}
PROBE_RUN=${PROBE_RUN:-/run/bootrack-probe}
PROBE_PIDS=

# probes_start SECONDS — LLDP capture for SECONDS on every NIC (they must be up; 0 skips LLDP), and
# one Get LAN Configuration Parameters request when a BMC is detected. Returns at once; probes_wait joins.
probes_start() {
  rm -rf "$PROBE_RUN"
  mkdir -p "$PROBE_RUN/lldp"
  [ -x "$PROBE" ] || { log "no $PROBE in this image: LLDP neighbours and the BMC address are not probed"; return 0; }
  if [ "${1:-0}" -gt 0 ] 2>/dev/null; then
    for n in "$SYS"/class/net/*; do
      [ -e "$n/device" ] || continue
      "$PROBE" lldp "${n##*/}" "$1" >"$PROBE_RUN/lldp/${n##*/}" 2>"$PROBE_RUN/lldp/${n##*/}.err" &
      PROBE_PIDS="$PROBE_PIDS $!"
    done
  fi
  if [ -n "$(bmc_detection)" ]; then
    (
      # ipmi_si may still be probing the KCS/SMIC/BT interface: wait up to 10 s for the device node
      i=0
      while [ $i -lt 20 ] && [ ! -e /dev/ipmi0 ]; do sleep 0.5; i=$((i + 1)); done
      "$PROBE" bmc-lan >"$PROBE_RUN/bmc" 2>"$PROBE_RUN/bmc.err"
      echo $? >"$PROBE_RUN/bmc.rc"
    ) &
    PROBE_PIDS="$PROBE_PIDS $!"
  fi
}

# probes_wait — until every probe started by probes_start has finished (each is bounded in time).
probes_wait() {
  for p in $PROBE_PIDS; do wait "$p"; done
  PROBE_PIDS=
}

# bmc_field NAME — a key=value line of the probe's bmc-lan output.
bmc_field() {
  [ -r "$PROBE_RUN/bmc" ] && sed -n "s/^$1=//p" "$PROBE_RUN/bmc" | head -n1
}

# {"address","mac"?} from the BMC, or null: no BMC, no answer, or an unset address (0.0.0.0).
facts_bmc() {
  b_ip=$(bmc_field ip)
  b_mac=$(bmc_field mac)
  case $b_ip in
    '' | 0.0.0.0) printf null; return ;;
  esac
  printf '{"address":%s' "$(json_str "$b_ip")"
  case $b_mac in
    '' | 00:00:00:00:00:00) ;;
    *) printf ',"mac":%s' "$(json_str "$b_mac")" ;;
  esac
  printf '}'
}

# bmc_summary — one log line on what the BMC probe found.
bmc_summary() {
  how=$(bmc_detection)
  if [ -z "$how" ]; then echo "no BMC detected"
  elif [ -n "$(bmc_field ip)" ]; then echo "BMC detected ($how): LAN channel $(bmc_field channel) address $(bmc_field ip) MAC $(bmc_field mac)"
  else echo "BMC detected ($how); LAN address not read (probe exit $(cat "$PROBE_RUN/bmc.rc" 2>/dev/null)): $(tr '\n' ' ' <"$PROBE_RUN/bmc.err" 2>/dev/null)"
  fi
}

# Neighbours are decoded by the appliance from lldpFrames; the agent itself reports none.
facts_lldp() {
  printf '[]'
}

# {"<iface>":["<hex LLDPDU>",…],…}: what the probe captured per interface (at most 64 frames each).
facts_lldp_frames() {
  sep=
  printf '{'
  for f in "$PROBE_RUN"/lldp/*; do
    [ -f "$f" ] || continue
    case ${f##*/} in *.err) continue ;; esac
    case ${f##*/} in *[!A-Za-z0-9_.:@-]*) continue ;; esac
    printf '%s%s:[' "$sep" "$(json_str "${f##*/}")"
    awk 'n < 64 && length($0) >= 2 && length($0) <= 3200 && /^[0-9a-f]+$/ { printf "%s\"%s\"", (n++ ? "," : ""), $0 }' "$f"
    printf ']'
    sep=,
  done
  printf '}'
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
  printf '{"facts":{"cpu":%s,"memoryMib":%s,"disks":%s,"nics":%s,"lldp":%s,"lldpFrames":%s,"dmi":%s,"bmc":%s,"firmware":%s,"arch":%s}' \
    "$(facts_cpu)" "$(facts_memory_mib)" "$(facts_disks)" "$(facts_nics)" "$(facts_lldp)" "$(facts_lldp_frames)" "$(facts_dmi)" "$(facts_bmc)" \
    "$(facts_firmware)" "$(json_str "$(facts_arch)")"
  [ -n "$1" ] && printf ',"mac":%s' "$(json_str "$1")"
  printf '}\n'
}
