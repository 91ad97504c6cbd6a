#!/bin/sh
# dhclient -sf hook for tests: records each call's environment and configures the address itself
# (the tests use /24 subnets), so dhclient can later send a unicast RELEASE from it.
env | sort > "$BRKDH_DIR/dhclient-$reason.env"
case $reason in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;
  RELEASE|EXPIRE|STOP) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/24" dev "$interface" 2>/dev/null ;;
esac
exit 0
