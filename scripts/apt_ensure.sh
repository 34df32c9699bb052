#!/usr/bin/env bash
# Install the named Debian packages that are missing (apt-get update first; sudo when not root).
#   bash scripts/apt_ensure.sh WHO PKG...     WHO prefixes the messages (e.g. "setup")
set -euo pipefail
who=$1
shift
missing=()
for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "$who: need root to install: ${missing[*]}" >&2; exit 1; fi
echo "$who: installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
