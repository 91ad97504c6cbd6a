#!/bin/sh
# Builds native/build/bindtodevice.node (and native/build/bootrack-probe, below) with the system C compiler against Node's N-API headers
# (Node-API is ABI-stable: one build serves every Node >= 18). Needs gcc and node's headers
# (/usr/include/node from the nodejs package, or NODE_INCLUDE=<dir>). Wire as: "build:native": "sh native/build.sh".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
inc=${NODE_INCLUDE:-}
if [ -z "$inc" ]; then
  for d in /usr/include/node /usr/local/include/node "$(dirname "$(dirname "$(command -v node)")")/include/node"; do
    [ -f "$d/node_api.h" ] && inc=$d && break
  done
fi
[ -n "$inc" ] && [ -f "$inc/node_api.h" ] || { echo "build:native: node_api.h not found; set NODE_INCLUDE" >&2; exit 1; }
mkdir -p "$here/build"
${CC:-cc} -O2 -Wall -Wextra -Werror -fPIC -shared -DNODE_GYP_MODULE_NAME=bindtodevice -I"$inc" \
  -o "$here/build/bindtodevice.node" "$here/bindtodevice.c"
echo "built $here/build/bindtodevice.node"
# The discovery OS's probe (LLDP capture, BMC LAN address): static, so the initramfs needs no loader
# for it. -ffile-prefix-map keeps the checkout path out of the binary (same bytes on every machine).
${CC:-cc} -static -Os -s -Wall -Wextra -Werror -ffile-prefix-map="$here"=. \
  -o "$here/build/bootrack-probe" "$here/probe/bootrack-probe.c"
echo "built $here/build/bootrack-probe"
