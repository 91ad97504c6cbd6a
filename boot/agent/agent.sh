#!/bin/sh
# agent.sh — the bootrack discovery agent (busybox sh), run by /init once modules are loaded.
#   kernel cmdline: bootrack.url=<appliance boot HTTP base>  bootrack.token=<agent token>
#                   bootrack.mac=<boot NIC MAC>  bootrack.ssh_keys=<base64url> | bootrack.ssh_key=<base64>
#                   | bootrack.ssh_keys_url=<URL>   bootrack.lldp_wait=<seconds, default 5>
# 1. DHCP on the boot NIC   2. POST status booted   3. authorized_keys + per-boot dropbear host key,
# dropbear   4. POST facts (after the LLDP window), status facts_posted   5. POST status ssh_ready {sshHostKey}
AGENT_DIR=${AGENT_DIR:-/usr/lib/bootrack}
. "$AGENT_DIR/lib.sh"
. "$AGENT_DIR/facts.sh"

URL=$(cmdline_arg bootrack.url)
URL=${URL%/}
TOKEN=$(cmdline_arg bootrack.token)
BOOTMAC=$(norm_mac "$(cmdline_arg bootrack.mac)")
API=$URL/api/v1/agent

# api_post ENDPOINT FILE — POST the JSON file with the bearer token; up to 6 tries, backing off 1..16 s.
api_post() {
  [ -n "$URL" ] || { log "no bootrack.url on the kernel command line; not posting $1"; return 1; }
  i=0 delay=1
  while [ $i -lt 6 ]; do
    if timeout 20 wget -q -O /tmp/api-response --header "Authorization: Bearer $TOKEN" \
      --header 'Content-Type: application/json' --post-file "$2" "$API/$1" 2>/tmp/api-error; then
      return 0
    fi
    log "POST $API/$1 failed ($(tr '\n' ' ' </tmp/api-error)); retry in ${delay}s"
    sleep $delay
    i=$((i + 1)) delay=$((delay * 2))
  done
  return 1
}

# post_status STATUS [MESSAGE] [SSH_HOST_KEY]
post_status() {
  {
    printf '{"status":%s' "$(json_str "$1")"
    [ -n "$2" ] && printf ',"message":%s' "$(json_str "$2")"
    [ -n "$3" ] && printf ',"sshHostKey":%s' "$(json_str "$3")"
    printf '}\n'
  } >/tmp/status.json
  api_post status /tmp/status.json && log "status $1 posted"
}

# The per-boot host key is made in the background while DHCP and facts run (slow under emulation).
HOSTKEY=/etc/dropbear/dropbear_ed25519_host_key
rm -f "$HOSTKEY" /run/hostkey.rc
(
  dropbearkey -t ed25519 -f "$HOSTKEY" >/dev/null 2>/tmp/dropbearkey.err
  echo $? >/run/hostkey.rc
) &

# ---- network: every physical NIC up (so facts see link and speed), DHCP on the boot NIC ----
ip link set lo up
IFACE=
i=0
while [ $i -lt 40 ] && [ -z "$IFACE" ]; do # NIC drivers probe asynchronously: wait up to 20 s
  for n in /sys/class/net/*; do
    [ -e "$n/device" ] || continue
    if [ -z "$BOOTMAC" ] || [ "$(norm_mac "$(read_file "$n/address")")" = "$BOOTMAC" ]; then IFACE=${n##*/}; break; fi
  done
  [ -n "$IFACE" ] || sleep 0.5
  i=$((i + 1))
done
for n in /sys/class/net/*; do [ -e "$n/device" ] && ip link set "${n##*/}" up; done
if [ -z "$IFACE" ]; then
  log "no NIC with MAC ${BOOTMAC:-any} appeared; NICs: $(ls /sys/class/net | tr '\n' ' ')"
  exit 1
fi
hostname "bootrack-$(read_file /sys/class/net/$IFACE/address | tr -d :)"
# LLDP capture on every NIC and the BMC query run while DHCP and the first posts do. A switch sends
# an LLDPDU every 30 s by default (and at once when its LLDP agent starts), so the window is a bound,
# not a guarantee: bootrack.lldp_wait=<seconds> (1..600, 0 = off) widens it. Default 5 s.
LLDP_WAIT=$(cmdline_arg bootrack.lldp_wait)
case $LLDP_WAIT in '' | *[!0-9]*) LLDP_WAIT=5 ;; esac
[ "$LLDP_WAIT" -le 600 ] || LLDP_WAIT=600
probes_start "$LLDP_WAIT"
log "boot NIC $IFACE ($BOOTMAC); DHCP"
# -b: background if no lease yet and keep trying; udhcpc stays alive to renew the lease.
udhcpc -i "$IFACE" -s "$AGENT_DIR/udhcpc.script" -V bootrack-agent -t 5 -T 2 -A 3 -b -p /run/udhcpc.pid >/dev/null 2>&1
i=0
while [ $i -lt 120 ] && [ ! -s /run/bootrack-ip ]; do sleep 0.5; i=$((i + 1)); done
if [ ! -s /run/bootrack-ip ]; then
  log "no DHCP lease on $IFACE after 60 s"
  exit 1
fi
log "address $(cat /run/bootrack-ip) on $IFACE; appliance $URL"

post_status booted

# ---- ssh: authorized keys from the cmdline, a host key made for this boot, dropbear ----
: >/root/.ssh/authorized_keys
KEYS_URL=$(cmdline_arg bootrack.ssh_keys_url)
if [ -n "$KEYS_URL" ]; then
  # The bearer token goes only to the appliance itself, never to a third-party URL.
  case $KEYS_URL in
    "$URL"/*) timeout 20 wget -q -O /tmp/keys --header "Authorization: Bearer $TOKEN" "$KEYS_URL" ;;
    *) timeout 20 wget -q -O /tmp/keys "$KEYS_URL" ;;
  esac && cat /tmp/keys >>/root/.ssh/authorized_keys || log "could not fetch $KEYS_URL"
fi
# bootrack.ssh_keys (what netboot renders: base64url, unpadded) or bootrack.ssh_key (base64);
# busybox base64 -d wants the classic alphabet with padding.
for param in bootrack.ssh_keys bootrack.ssh_key; do
  v=$(cmdline_arg "$param" | tr '_-' '/+')
  [ -n "$v" ] || continue
  case $((${#v} % 4)) in 2) v="$v==" ;; 3) v="$v=" ;; esac
  printf '%s' "$v" | base64 -d >>/root/.ssh/authorized_keys 2>/dev/null || log "$param is not valid base64"
  echo >>/root/.ssh/authorized_keys
done
chmod 700 /root /root/.ssh
chmod 600 /root/.ssh/authorized_keys
log "authorized_keys: $(grep -c '^[a-z]' /root/.ssh/authorized_keys) key(s)"

i=0
while [ $i -lt 120 ] && [ ! -s /run/hostkey.rc ]; do sleep 0.5; i=$((i + 1)); done
SSH_UP=no
SSH_ERR=
if [ "$(cat /run/hostkey.rc 2>/dev/null)" != 0 ]; then
  SSH_ERR="dropbearkey failed: $(cat /tmp/dropbearkey.err 2>/dev/null)"
else
  # OpenSSH public key format: "ssh-ed25519 AAAA…" (the comment dropbearkey adds is dropped)
  PUB=$(dropbearkey -y -f "$HOSTKEY" | grep '^ssh-' | cut -d' ' -f1-2)
  # -s: keys only, no passwords; -E: log to stderr; forks into the background once listening
  if dropbear -r "$HOSTKEY" -p 22 -s -E -P /run/dropbear.pid 2>>/var/log/dropbear.log; then
    SSH_UP=yes
    log "dropbear listening on :22, host key $PUB"
  else
    SSH_ERR="dropbear did not start: $(tail -n3 /var/log/dropbear.log | tr '\n' ' ')"
  fi
fi

# ---- facts ----
# Posted once dropbear listens, so the LLDP window never delays SSH, and before ssh_ready, so the
# timeline still reads booted → facts_posted → ssh_ready; posted even if dropbear failed.
# {"facts":{…},"mac":"<boot MAC>"}: the API checks the boot MAC belongs to the token's machine.
probes_wait
for e in "$PROBE_RUN"/lldp/*.err; do [ -s "$e" ] && log "lldp ${e##*/}: $(tr '\n' ' ' <"$e")"; done
log "LLDP: $(grep -hE '^[0-9a-f]+$' "$PROBE_RUN"/lldp/* 2>/dev/null | wc -l) LLDPDU(s) in ${LLDP_WAIT}s; $(bmc_summary)"
collect_facts "$BOOTMAC" >/tmp/facts.json
log "facts: $(cat /tmp/facts.json)"
if api_post facts /tmp/facts.json; then
  post_status facts_posted
else
  log "facts POST failed"
fi

if [ "$SSH_UP" = yes ]; then
  post_status ssh_ready '' "$PUB"
else
  post_status error "$SSH_ERR"
  exit 1
fi
log "ready"
