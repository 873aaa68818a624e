#!/usr/bin/env bash
# Headless Chromium for the browser step and tests, from Debian's archive (never a downloaded browser build),
# and certutil (libnss3-tools), which gives that browser the run's CA for https://todo.local.
# Prints the browser's path. Usage: scripts/ensure-chromium.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/apt-ensure.sh" chromium libnss3-tools
if ! command -v certutil >/dev/null; then
  echo "ensure-chromium: the libnss3-tools package is installed but no 'certutil' is on PATH; check 'dpkg -L libnss3-tools'" >&2
  exit 1
fi
browser="$(command -v chromium || true)"
if [ -z "$browser" ]; then
  echo "ensure-chromium: the chromium package is installed but no 'chromium' is on PATH; check 'dpkg -L chromium'" >&2
  exit 1
fi
# A browser that cannot start headless is as good as none: fail here with its own words.
if ! version="$("$browser" --headless --no-sandbox --disable-gpu --version 2>&1)"; then
  echo "ensure-chromium: $browser does not start: $version" >&2
  exit 1
fi
echo "ensure-chromium: $version" >&2
echo "$browser"
