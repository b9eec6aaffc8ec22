#!/usr/bin/env bash
# Make sure the Debian packages spq needs are present; install them when root.
set -eu
pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang cmake"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "error: missing Debian packages:$missing (run: sudo apt-get install$missing)" >&2
    exit 2
fi
