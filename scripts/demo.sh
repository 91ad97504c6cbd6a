#!/usr/bin/env bash
# npm run demo [-- --once]: one unknown QEMU VM PXE-boots from bootrack in a private network namespace
# and enlists itself; prints its record and boot timeline; Ctrl-C tears everything down. See scripts/demo.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) == 0 ]] || { echo "demo: run as root (network namespaces and tap devices)" >&2; exit 2; }
for tool in qemu-system-x86_64 qemu-img ip ssh ssh-keygen /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is missing (scripts/install-deps.sh)" >&2; exit 2; }
done
exec node --import tsx scripts/demo.ts "$@"
