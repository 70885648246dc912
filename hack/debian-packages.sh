#!/usr/bin/env bash
# debian-packages.sh PACKAGE... : install the Debian packages the builds and tests need (the real-node
# lane's build tools, the tests' PostgreSQL), when one is missing and this is a root shell with apt-get
# (a fresh CI or dev machine). Elsewhere it installs nothing, and the caller names what is missing.
set -euo pipefail
missing=()
for package; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
