#!/usr/bin/env bash
# One command from a fresh Debian 12 checkout to a running appliance: installs the Debian packages,
# the npm dependencies, builds, and runs `bootrack serve` in the foreground on the embedded defaults
# (state in /var/lib/bootrack, TFTP :69, boot HTTP :8080, API :8443 over TLS, DHCP off).
# Pass --no-serve to stop after the build; extra arguments go to `bootrack serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: bootrack binds privileged ports and installs packages" >&2; exit 1; }

bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
ln -sf "$PWD/dist/cli/bootrack.js" /usr/local/bin/bootrack
chmod +x dist/cli/bootrack.js

if [ "${1:-}" = "--no-serve" ]; then
  echo "built; start it with: bootrack serve"
  exit 0
fi
exec node --enable-source-maps --max-semi-space-size=4 dist/cli/bootrack.js serve "$@"
