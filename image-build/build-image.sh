#!/usr/bin/env bash
# Build the Salon Raspberry Pi image with rpi-image-gen, on an arm64 Debian/Raspberry Pi
# OS machine (a Pi 5 works) with rpi-image-gen installed (see README.md).
#
#   image-build/build-image.sh [salon-pi.yaml|salon-pi-ab.yaml] [-- IGconf_x=y ...]
#
# 1. builds the appliance .deb for arm64 + Python 3.13 (trixie), pygame from the system
#    (Raspberry Pi OS's SDL has the kmsdrm driver; the PyPI wheel's does not);
# 2. runs rpi-image-gen with this directory as its source directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${1:-salon-pi.yaml}
shift || true
[[ ${1:-} == -- ]] && shift

command -v rpi-image-gen >/dev/null || {
    echo "build-image: rpi-image-gen not found (see image-build/README.md)" >&2; exit 2; }

deb=$("$here/build-deb.sh" --arch arm64 --python 3.13 --system-pkgs "${SALON_SYSTEM_PKGS:-pygame}" \
      --out "$here/rpi-image-gen/pkgs")
ln -sf "$(basename "$deb")" "$here/rpi-image-gen/pkgs/salon-appliance.deb"

cd "$here/rpi-image-gen"
exec rpi-image-gen build -S "$here/rpi-image-gen" -c "$config" -- "$@"
