#!/usr/bin/env bash
# Enable Debian's non-free component (RHVoice and SVOX Pico live there), for the Debian release
# this machine runs; does nothing when it is already enabled. Debian only.
#   bash scripts/enable_nonfree.sh
set -euo pipefail
if [ ! -f /etc/debian_version ] || grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null; then
  echo "enable_nonfree: not Debian; install rhvoice, rhvoice-english and libttspico-utils by hand" >&2
  exit 1
fi
if grep -rqsE '^(Components:|deb ).*\bnon-free\b' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  exit 0
fi
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || { echo "enable_nonfree: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "enable_nonfree: adding Debian $codename non-free to /etc/apt/sources.list.d/kws-edge-nonfree.sources"
$sudo tee /etc/apt/sources.list.d/kws-edge-nonfree.sources >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
$sudo apt-get update -qq
