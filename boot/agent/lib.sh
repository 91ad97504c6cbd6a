# lib.sh — helpers shared by the bootrack discovery agent. Plain busybox sh (ash); sourced, not run.
# Only busybox applets are used, so this runs the same in the initramfs and under `busybox sh` on a host.

# log MESSAGE — one line on the console, stamped with uptime so boot timelines can be read off serial.
log() {
  echo "bootrack-agent[$(cut -d' ' -f1 /proc/uptime 2>/dev/null)]: $*"
}

# json_str VALUE — a JSON string literal. Backslash and quote are escaped; tab/CR/LF become spaces;
# other control characters are dropped; leading/trailing blanks trimmed (sysfs pads with spaces).
json_str() {
  printf '"%s"' "$(printf '%s' "$1" | tr '\t\r\n' '   ' | tr -d '\000-\037\177' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^ *//' -e 's/ *$//')"
}

# json_str_or_null VALUE — like json_str, but null when VALUE is empty or blank.
json_str_or_null() {
  case $(printf '%s' "$1" | tr -d ' \t\r\n') in
    '') printf null ;;
    *) json_str "$1" ;;
  esac
}

# json_num VALUE — a JSON integer, or null if VALUE is not a non-negative decimal integer.
json_num() {
  case $1 in
    '' | *[!0-9]*) printf null ;;
    *) printf '%s' "$1" | sed -e 's/^0*\([0-9]\)/\1/' ;;
  esac
}

# json_bool VALUE — true for 1/true/yes, false otherwise.
json_bool() {
  case $1 in
    1 | true | yes) printf true ;;
    *) printf false ;;
  esac
}

# read_file PATH — the file's first line (empty when unreadable); sysfs attributes are one line.
read_file() {
  [ -r "$1" ] || return 0
  head -n1 "$1" 2>/dev/null
}

# cmdline_arg NAME — the value of NAME=… on the kernel command line (last one wins), else empty.
cmdline_arg() {
  _v=
  for _a in $(cat "${CMDLINE_FILE:-/proc/cmdline}"); do
    case $_a in
      "$1"=*) _v=${_a#"$1"=} ;;
    esac
  done
  printf '%s' "$_v"
}

# norm_mac MAC — lowercase, colon-separated (iPXE may hand us aa-bb-… or AA:BB:…).
norm_mac() {
  printf '%s' "$1" | tr 'A-F-' 'a-f:'
}
