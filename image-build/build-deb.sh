#!/usr/bin/env bash
# Build the salon-appliance Debian package (or salon-bridge) with plain dpkg-deb.
#
#   image-build/build-deb.sh [--arch amd64|arm64] [--python 3.11|3.13] [--out DIR]
#                            [--package appliance|bridge] [--system-pkgs "pygame ..."]
#
# Layout (dh-virtualenv style, but cross-buildable with no emulator):
#   /opt/salon/venv/            a venv whose bin/python3 is the target's /usr/bin/python3.X,
#                               with include-system-site-packages (picamera2 and libcamera
#                               exist only as Raspberry Pi OS packages) and every other
#                               dependency as a wheel for the target arch and Python
#   /usr/bin/salon-appliance    -> /opt/salon/venv/bin/salon-appliance
#   /usr/lib/systemd/system/    units; /usr/lib/sysusers.d, /usr/lib/tmpfiles.d
#   /usr/share/salon/salon.toml.example, /usr/share/doc/salon-appliance/
#
# The salon wheel itself is pure Python; its dependencies are binary wheels (numpy, av,
# aiortc, livekit, pydantic-core, ...), fetched from PyPI for the target platform with
# `pip download --platform`. That makes the .deb specific to one architecture AND one
# Python minor version (3.11 = Debian bookworm, 3.13 = Debian trixie / Raspberry Pi OS
# trixie). Packages named in --system-pkgs are not bundled: they come from Debian
# (python3-<name>), e.g. pygame, whose PyPI wheel lacks SDL's kmsdrm driver.
# Wheels are cached in $SALON_CACHE (default /var/cache/salon/wheels).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
arch=$(dpkg --print-architecture)
pyver=3.11
out="$repo/dist"
package=appliance
system_pkgs=""
# Any Python >= 3.11 with pip and packaging runs the build (not the target's Python).
python=${PYTHON:-"$repo/.venv/bin/python"}
[[ -x $python ]] || python=python3
cache=${SALON_CACHE:-/var/cache/salon}/wheels

while [[ $# -gt 0 ]]; do
    case $1 in
        --arch) arch=$2; shift 2 ;;
        --python) pyver=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --package) package=$2; shift 2 ;;
        --system-pkgs) system_pkgs=$2; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
    esac
done

case $arch in
    amd64) march=x86_64 ;;
    arm64) march=aarch64 ;;
    *) echo "build-deb: unsupported arch $arch (amd64, arm64)" >&2; exit 2 ;;
esac
case $package in
    appliance) extra=appliance ;;
    bridge) extra=bridge,postgres,cluster ;;  # psycopg: PostgreSQL by one URL; nats-py: several processes
    *) echo "build-deb: --package appliance|bridge" >&2; exit 2 ;;
esac
name=salon-$package
pytag=cp${pyver/./}
glibc_max=36   # bookworm's glibc 2.36; trixie's 2.41 runs these too
[[ $pyver == 3.11 ]] || glibc_max=41

log() { echo "build-deb: $*" >&2; }
# pip, minus the warnings about find-links directories some machines configure.
pip() { "$python" -m pip "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
venv=/opt/salon/venv
site=$stage$venv/lib/python$pyver/site-packages

# 1. The salon wheel (pure Python, so the host builds it for every target).
log "building the salon wheel"
pip wheel --quiet --no-deps -w "$work/salon" "$repo" >&2
salon_whl=$(ls "$work"/salon/salon-*.whl)
version=$(basename "$salon_whl" | cut -d- -f2)

# 2. Its dependencies as wheels for the target platform.
platforms=(--platform "manylinux2014_$march")
for v in $(seq 17 "$glibc_max"); do platforms+=(--platform "manylinux_2_${v}_$march"); done
wheels=$cache/$arch-$pytag
mkdir -p "$wheels"
log "fetching $extra wheels for $arch/$pytag into $wheels"
# pip download keeps a file already in the directory over the one it is given, so a
# salon wheel cached by an earlier build (same version, older dependencies) would decide
# what gets fetched: only the wheels it depends on belong in the cache.
rm -f "$wheels"/salon-*.whl
pip download --quiet --only-binary=:all: "${platforms[@]}" \
    --python-version "$pyver" --implementation cp --abi "$pytag" --abi abi3 --abi none \
    -d "$wheels" "$salon_whl[$extra]" >&2
rm -f "$wheels"/salon-*.whl

# 3. The venv, assembled without running the target's Python.
mkdir -p "$site" "$stage$venv/bin"
ln -s "/usr/bin/python$pyver" "$stage$venv/bin/python3"
ln -s python3 "$stage$venv/bin/python"
cat > "$stage$venv/pyvenv.cfg" <<EOF
home = /usr/bin
include-system-site-packages = true
version = $pyver
executable = /usr/bin/python$pyver
EOF
deps=()
skip_re='^$'
if [[ -n $system_pkgs ]]; then
    skip_re="^($(echo "$system_pkgs" | tr ' ' '\n' | sed 's/[-_.]/[-_.]/g' | paste -sd'|'))-"
fi
MARCH=$march "$python" - "$wheels" "$salon_whl" "$extra" "$pyver" > "$work/needed" <<'EOF'
# Which cached wheels this build needs: resolve the requirement tree from the wheels'
# own metadata, so a cache shared by several builds bundles only what this one needs.
import os, sys, zipfile
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

MACHINE = os.environ["MARCH"]
wheeldir, root, extra, pyver = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
by_name = {}
for whl in sorted(wheeldir.glob("*.whl")):
    by_name.setdefault(canonicalize_name(parse_wheel_filename(whl.name)[0]), []).append(whl)

def metadata(whl):
    with zipfile.ZipFile(whl) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(name).decode()

def requires(whl, extras):
    out = []
    for line in metadata(whl).splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            env = {"python_version": pyver, "python_full_version": pyver + ".0",
                   "sys_platform": "linux", "platform_system": "Linux",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython",
                   "os_name": "posix", "platform_machine": MACHINE}
            ok = any(req.marker is None or req.marker.evaluate({**env, "extra": e})
                     for e in extras or [""])
            if ok:
                out.append(req)
    return out

seen, todo = set(), [(root, extra.split(","))]  # "bridge,postgres": both extras
while todo:
    whl, extras = todo.pop()
    for req in requires(whl, extras):
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        candidates = [w for w in by_name.get(key, [])
                      if req.specifier.contains(str(parse_wheel_filename(w.name)[1]), True)]
        if not candidates:
            sys.exit(f"no cached wheel satisfies {req}")
        best = max(candidates, key=lambda w: parse_wheel_filename(w.name)[1])
        seen.add(key)
        print(best)
        todo.append((best, sorted(req.extras)))
EOF
while read -r whl; do
    if [[ $(basename "$whl") =~ $skip_re ]]; then log "from Debian: $(basename "$whl")"; continue; fi
    deps+=("$whl")
done < "$work/needed"
log "installing ${#deps[@]} wheels into the venv"
pip install --quiet --no-deps --no-compile --only-binary=:all: \
    "${platforms[@]}" --python-version "$pyver" --implementation cp --abi "$pytag" \
    --target "$site" "$salon_whl" "${deps[@]}" >&2
rm -rf "$site/bin"   # scripts with the host's shebang; written below for the target
# pip records where the salon wheel came from (this build's temporary directory): drop
# it, so two builds of the same tree give the same files (a reproducible image).
rm -f "$site"/salon-*.dist-info/direct_url.json
sed -i '/direct_url\.json/d' "$site"/salon-*.dist-info/RECORD

# Console scripts from the wheel's own entry points, with the venv's python.
"$python" - "$salon_whl" <<'EOF' > "$work/scripts"
import configparser, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
ep = next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))
cp = configparser.ConfigParser()
cp.read_string(z.read(ep).decode())
for name, target in cp.items("console_scripts"):
    print(name, target)
EOF
while read -r script target; do
    module=${target%%:*}; func=${target##*:}
    printf '#!%s/bin/python3\nimport sys\nfrom %s import %s\nsys.exit(%s())\n' \
        "$venv" "$module" "$func" "$func" > "$stage$venv/bin/$script"
    chmod 755 "$stage$venv/bin/$script"
done < "$work/scripts"

# 4. System integration files.
sd=$repo/systemd
install -d "$stage/usr/bin" "$stage/usr/lib/systemd/system" "$stage/usr/lib/sysusers.d" \
    "$stage/usr/lib/tmpfiles.d" "$stage/usr/share/doc/$name" "$stage/usr/share/salon"
if [[ $package == appliance ]]; then
    ln -s "$venv/bin/salon-appliance" "$stage/usr/bin/salon-appliance"
    install -m644 "$sd"/salon-appliance.service "$sd"/salon-appliance-failed.service \
        "$sd"/salon-appliance-retry.service "$sd"/salon-appliance-retry.timer \
        "$stage/usr/lib/systemd/system/"
    install -m644 "$sd/sysusers.d/salon.conf" "$stage/usr/lib/sysusers.d/salon.conf"
    install -m644 "$sd/tmpfiles.d/salon.conf" "$stage/usr/lib/tmpfiles.d/salon.conf"
    install -D -m755 "$sd/libexec/salon-appliance-failed" \
        "$stage/opt/salon/libexec/salon-appliance-failed"
    install -D -m644 "$sd/pam.d/salon-appliance" "$stage/etc/pam.d/salon-appliance"
    install -m644 "$repo/config/appliance.example.toml" "$stage/usr/share/salon/salon.toml.example"
    install -m755 "$here/smoke-test-on-pi.sh" "$stage/usr/share/salon/smoke-test-on-pi.sh"
    conffiles="/etc/pam.d/salon-appliance"
    units="salon-appliance.service"
else
    ln -s "$venv/bin/salon-bridge" "$stage/usr/bin/salon-bridge"
    install -m644 "$sd/salon-bridge.service" "$stage/usr/lib/systemd/system/"
    install -D -m644 "$sd/coturn.service.d/salon-bridge.conf" \
        "$stage/usr/lib/systemd/system/coturn.service.d/salon-bridge.conf"
    install -m644 "$sd/sysusers.d/salon-bridge.conf" "$stage/usr/lib/sysusers.d/"
    install -m644 "$sd/tmpfiles.d/salon-bridge.conf" "$stage/usr/lib/tmpfiles.d/"
    # A school's configuration to edit (docs/deployment.md); the bridge starts once it is.
    install -D -m644 "$repo/config/bridge.toml" "$stage/etc/salon-bridge/bridge.toml"
    install -D -m755 "$repo/config/certbot-deploy-hook" \
        "$stage/usr/share/salon-bridge/certbot-deploy-hook"
    install -D -m644 "$repo/config/Caddyfile" \
        "$stage/usr/share/doc/$name/examples/Caddyfile"
    install -m644 "$repo/docs/deployment.md" "$stage/usr/share/doc/$name/deployment.md"
    conffiles="/etc/salon-bridge/bridge.toml"
    units="salon-bridge.service"
fi
[[ -f $repo/docs/operations.md ]] && install -m644 "$repo/docs/operations.md" \
    "$stage/usr/share/doc/$name/operations.md"

# 5. Maintainer scripts and control file.
install -d "$stage/DEBIAN"
sed -e "s|@UNITS@|$units|g" -e "s|@NAME@|$name|g" -e "s|@PYVER@|$pyver|g" \
    "$here/deb/postinst" > "$stage/DEBIAN/postinst"
sed -e "s|@UNITS@|$units|g" "$here/deb/prerm" > "$stage/DEBIAN/prerm"
state_name=$name
[[ $package == appliance ]] && state_name=salon
sed -e "s|@UNITS@|$units|g" -e "s|@NAME_STATE@|$state_name|g" "$here/deb/postrm" \
    > "$stage/DEBIAN/postrm"
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
[[ -n $conffiles ]] && echo "$conffiles" | tr ' ' '\n' > "$stage/DEBIAN/conffiles"

pydep="python3 (>= $pyver), python3 (<< ${pyver%.*}.$(( ${pyver#*.} + 1 )))"
depends="$pydep, systemd"
for pkg in $system_pkgs; do depends+=", python3-$pkg"; done
recommends="python3-systemd"
if [[ $package == appliance ]]; then
    depends+=", libpam-systemd"
    recommends+=", python3-alsaaudio, python3-picamera2, python3-lgpio"
else
    depends+=", janus"
    suggests="coturn, certbot, caddy, postgresql"
fi
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $arch
Maintainer: Salon developers <salon@localhost>
Section: net
Priority: optional
Installed-Size: $size
Depends: $depends
Recommends: $recommends
${suggests:+Suggests: $suggests
}Description: Salon conference-room $package
 Open-source firmware for a Raspberry Pi meeting-room appliance and the meeting
 service it joins. Python $pyver venv under /opt/salon with its wheels bundled.
EOF

mkdir -p "$out"
deb="$out/${name}_${version}_${arch}_py${pyver}.deb"
dpkg-deb --root-owner-group -Zzstd --build "$stage" "$deb" >&2
log "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
