#!/usr/bin/env bash
# Build the image a second time from the same inputs (same cached base rootfs, same
# package, same test CA) and say what differs from build/image, partition by partition.
#
#   image-build/debian/check-reproducible.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
first=${FIRST:-$repo/build/image}
second=$repo/build/image-repro
if [[ ! -f $first/salon-arm64.img ]]; then
    "$repo/image-build/debian/build.sh" image --out "$first" >&2
fi
rm -rf "$second"; mkdir -p "$second"
cp -a "$first/pki" "$second/pki"
"$repo/image-build/debian/build.sh" image --out "$second" >&2

same=1
for part in boot.vfat rootfs-good.ext4 state.ext4 salon-arm64.img; do
    if cmp -s "$first/$part" "$second/$part"; then
        echo "same bytes: $part ($(sha256sum < "$first/$part" | cut -c1-16))"
    else
        same=0
        echo "DIFFERENT:  $part ($(cmp -l "$first/$part" "$second/$part" 2>/dev/null | wc -l) bytes differ)"
    fi
done
# Where the root filesystems differ, which files (content, not timestamps).
if ! cmp -s "$first/rootfs-good.ext4" "$second/rootfs-good.ext4"; then
    diff <(cd "$first/rootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
         <(cd "$second/rootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
        | grep '^[<>]' | awk '{print $3}' | sort -u | head -40 | sed 's/^/  file differs: /' || true
fi
if ! cmp -s "$first/boot.vfat" "$second/boot.vfat"; then
    diff <(cd "$first/bootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
         <(cd "$second/bootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
        | grep '^[<>]' | awk '{print $3}' | sort -u | sed 's/^/  boot file differs: /' || true
fi
[[ $same == 1 ]] && echo "reproducible: the two images are identical"
exit 0
