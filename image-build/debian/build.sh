#!/usr/bin/env bash
# Build the Salon Raspberry Pi image from Debian's own archive (bookworm, main +
# non-free-firmware), no Raspberry Pi archive needed. See image-build/README.md.
#
#   image-build/debian/build.sh [image|bundle|all] [--out DIR] [--bundle-variant good|broken]
#
# Steps (each cached under $out, so an edit to the overlay rebuilds in minutes):
#   1. base rootfs: mmdebstrap arm64 with packages.txt, cached as a tarball keyed by
#      the package list (the slow part: ~15 min under qemu-user on 2 cores);
#   2. the salon-appliance .deb (build-deb.sh, arm64, Python 3.11) installed on top,
#      plus overlay/ (fstab, units, RAUC config, GRUB config), read-only root;
#   3. filesystems: boot (FAT: Pi firmware, per-slot kernels, config.txt, tryboot.txt,
#      salon.toml, GRUB for UEFI), rootfs A = rootfs B (ext4), state (ext4);
#   4. salon-<version>-arm64.img (MBR: boot, A, B, state) + .sha256 + manifest;
#   5. `bundle`: a RAUC bundle (verity) of the rootfs, signed with the test CA that
#      step 3 generated into $out/pki (never committed; its cert is the image's keyring).
# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) fixes every
# timestamp, UUID and volume id; the package versions are in the manifest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/image
what=image
variant=good
while [[ $# -gt 0 ]]; do
    case $1 in
        image|bundle|all|rootfs) what=$1; shift ;;
        --out) out=$(realpath -m "$2"); shift 2 ;;
        --bundle-variant) variant=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build: unknown argument $1" >&2; exit 2 ;;
    esac
done

suite=bookworm
mirror=${SALON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SALON_CACHE:-/var/cache/salon}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
export LC_ALL=C.UTF-8 TZ=UTC
# Disk and partition identities: fixed, so two builds agree and cmdlines can name them.
disk_id=0x5a10a000
partuuid() { printf '%08x-%02d' $((disk_id)) "$1"; }
boot_mb=256 slot_mb=1536 state_mb=1024  # state: room for a downloaded bundle (~380 MB)

log() { echo "build: $(date +%T) $*" >&2; }
mkdir -p "$out" "$cache"

packages=$(grep -v '^#' "$here/packages.txt" | paste -sd,)

# ---- 1. base rootfs (cached) ---------------------------------------------------------
base_rootfs() {
    local key tarball
    key=$(printf '%s %s %s' "$suite" "$mirror" "$packages" | sha256sum | cut -c1-12)
    tarball=$cache/image-base-$suite-arm64-$key.tar
    if [[ ! -f $tarball ]]; then
        log "mmdebstrap arm64 base (uncached: slow under qemu-user)"
        [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
        # raspi-firmware's kernel hook copies into /boot/firmware; give it a directory
        # (the image's boot partition is assembled from the rootfs in step 3). The
        # initramfs is built once at the end: built by the kernel's postinst and again
        # by the trigger it costs ~30 min more under qemu-user. Until then
        # update-initramfs is diverted to a stub (as live-build does; writing its
        # conffile beforehand instead stops dpkg at a conffile prompt).
        mmdebstrap --arch=arm64 --variant=minbase --components=main,non-free-firmware \
            --include="$packages" \
            --aptopt='Acquire::Languages "none"' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-include=/usr/share/locale/locale.alias' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-include=/usr/share/doc/salon-appliance/*' \
            --setup-hook='mkdir -p "$1/boot/firmware"' \
            --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.salon --add /usr/sbin/update-initramfs && printf "#!/bin/sh\necho update-initramfs: deferred to the end of the image build\n" > "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"' \
            --customize-hook='rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs && chroot "$1" update-initramfs -c -k all' \
            "$suite" "${tarball%.tar}.partial.tar" "$mirror" >&2
        mv "${tarball%.tar}.partial.tar" "$tarball"
    fi
    echo "$tarball"
}


# ---- 2. the rootfs: base + salon-appliance + overlay --------------------------------
in_root() {  # a command in the arm64 rootfs (qemu-user), no network
    systemd-nspawn -D "$root" --register=no --keep-unit --private-network -q --pipe \
        --setenv=PATH=/usr/sbin:/usr/bin:/sbin:/bin --setenv=LANG=C.UTF-8 "$@"
}

build_rootfs() {
    local base deb deb_key tarball
    base=$(base_rootfs)
    mkdir -p "$out/deb"
    deb=$("$repo/image-build/build-deb.sh" --arch arm64 --python 3.11 --out "$out/deb" \
          | tail -1)
    version=$(dpkg-deb -f "$deb" Version)
    # The package's content (not its timestamps) decides whether the cached
    # base+package tree can be reused: installing byte-compiles under qemu-user (slow).
    deb_key=$( { basename "$base"; dpkg-deb -f "$deb";
                 dpkg-deb --fsys-tarfile "$deb" | tar -x -O | sha256sum; } | sha256sum | cut -c1-12)
    tarball=$cache/image-rootfs-arm64-$deb_key.tar
    root=$out/rootfs
    rm -rf --one-file-system "$root"; mkdir -p "$root"
    if [[ -f $tarball ]]; then
        log "rootfs with salon-appliance $version from cache"
        tar -C "$root" -xf "$tarball"
    else
        log "installing salon-appliance $version into the base rootfs (emulated)"
        tar -C "$root" -xf "$base"
        cp "$deb" "$root/root/salon.deb"
        in_root dpkg -i /root/salon.deb >&2
        rm "$root/root/salon.deb"
        tar -C "$root" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
        # One cached tree per package version (1.4 GB each): keep the newest three.
        ls -t "$cache"/image-rootfs-arm64-*.tar | tail -n +4 | xargs -r rm -f
    fi
    customize_rootfs
}

customize_rootfs() {
    log "customising the rootfs (read-only root, units, RAUC, manifest)"
    cp -a "$here/overlay/." "$root/"
    for f in system-grub.conf system-tryboot.conf; do
        sed -i -e "s/@PARTUUID_A@/$(partuuid 2)/" -e "s/@PARTUUID_B@/$(partuuid 3)/" \
            "$root/etc/rauc/$f"
    done
    install -m644 "$out/pki/ca.cert.pem" "$root/etc/rauc/keyring.pem"
    # Mount points, and nothing left in them from package hooks (the boot partition is
    # assembled in step 3 from the slot's kernel).
    rm -rf "$root/boot/firmware"; mkdir -p "$root/boot/firmware" "$root/data"
    # The unit's ConfigurationDirectory: systemd cannot create it on a read-only /etc.
    install -d -m 0755 "$root/etc/salon"
    # Every card gets its own SSH host keys (on /data, when SSH is provisioned) and its
    # own machine id (an empty file: systemd makes a transient one on a read-only root).
    rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id"
    : > "$root/etc/machine-id"
    systemctl --root="$root" enable salon-rauc-config.service salon-update-confirm.service \
        salon-machine-id.service salon-grow-state.service salon-boot-network.service salon-ssh-provision.service systemd-networkd.service \
        systemd-resolved.service systemd-timesyncd.service salon-appliance.service 2>&1 | grep -v "^Created symlink" >&2 || true
    systemctl --root="$root" disable ssh.service >/dev/null 2>&1 || true
    # Nothing installs packages on a read-only root: updates come as RAUC bundles.
    systemctl --root="$root" mask apt-daily.timer apt-daily-upgrade.timer \
        dpkg-db-backup.timer >/dev/null 2>&1 || true
    systemctl --root="$root" set-default multi-user.target >/dev/null 2>&1
    ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
    if [[ $variant == broken ]]; then
        # An update whose appliance cannot start: the health gate must roll it back.
        mkdir -p "$root/etc/systemd/system/salon-appliance.service.d"
        printf '[Service]\nExecStart=\nExecStart=/bin/false\n' \
            > "$root/etc/systemd/system/salon-appliance.service.d/broken.conf"
    fi
    # Build leftovers that would make two builds differ, or that nobody needs.
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/root/.cache
    [[ -e $root/vmlinuz && -e $root/initrd.img ]] || { log "no /vmlinuz or /initrd.img"; exit 1; }
    kver=$(basename "$(readlink "$root/vmlinuz")" | sed 's/^vmlinuz-//')
    release="salon $version ($variant) built $(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ) from $(git -C "$repo" rev-parse --short HEAD)"
    echo "$release" > "$root/etc/salon-image-release"
    manifest=$root/usr/share/salon/image-manifest.txt
    {
        echo "# $release"
        echo "# Debian $suite arm64 from $mirror, kernel $kver; package versions:"
        dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n'
    } > "$manifest"
    # Every timestamp is SOURCE_DATE_EPOCH.
    find "$root" -xdev -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
}

# ---- 3. filesystems -----------------------------------------------------------------
make_pki() {
    local pki=$out/pki
    [[ -f $pki/signing.key.pem ]] && return
    log "a test signing CA for RAUC bundles in $pki (never commit it)"
    mkdir -p "$pki"; chmod 700 "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$pki/ca.key.pem" -out "$pki/ca.cert.pem" -days 3650 \
        -subj "/O=Salon test/CN=Salon test update CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$pki/signing.key.pem" -out "$pki/signing.csr" \
        -subj "/O=Salon test/CN=Salon test update signing" 2>/dev/null
    openssl x509 -req -in "$pki/signing.csr" -CA "$pki/ca.cert.pem" -CAkey "$pki/ca.key.pem" \
        -CAcreateserial -out "$pki/signing.cert.pem" -days 3650 2>/dev/null
}

make_ext4() {  # SRC_DIR IMAGE LABEL UUID SIZE_MB [extra mke2fs args]
    local src=$1 img=$2 label=$3 uuid=$4 size=$5; shift 5
    rm -f "$img"
    E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -F -t ext4 -L "$label" -U "$uuid" \
        -E "hash_seed=$uuid,root_owner=0:0" -d "$src" "$@" "$img" "${size}M"
    # mke2fs -d copies each file's ctime (which nothing can set back) and its atime (which
    # reading it for the copy just changed): set both to SOURCE_DATE_EPOCH in the new
    # filesystem (debugfs, one command per inode and field).
    (cd "$src" && find . -xdev -mindepth 1 | sed -e 's|^\.||' -e 's|"|\\"|g' \
        | awk -v t="@$SOURCE_DATE_EPOCH" '{print "sif \"" $0 "\" ctime " t; print "sif \"" $0 "\" atime " t}'
        echo "sif / ctime @$SOURCE_DATE_EPOCH"; echo "sif / atime @$SOURCE_DATE_EPOCH") \
        | E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f - "$img" >/dev/null 2>&1
}

make_rootfs_image() {
    local used size
    used=$(du -sm --apparent-size "$root" | cut -f1)
    size=$(( used * 115 / 100 + 96 ))
    (( size <= slot_mb )) || { log "rootfs ${size} MB does not fit a ${slot_mb} MB slot"; exit 1; }
    log "rootfs.ext4: ${size} MB (content ${used} MB)"
    # No journal: the root is never mounted writable.
    make_ext4 "$root" "$out/rootfs-$variant.ext4" salon-root 5a10c0de-0000-4000-8000-000000000001 \
        "$size" -O ^has_journal -m 0
}

cmdline() {  # SLOT PARTNO: the Pi's cmdline.txt for a slot
    echo "console=tty0 console=ttyS1,115200 root=PARTUUID=$(partuuid "$2") ro rootwait rauc.slot=$1 panic=10 fsck.repair=yes cma=64M"
}

make_boot_image() {
    local bootdir=$out/bootfs
    rm -rf "$bootdir"; mkdir -p "$bootdir/a" "$bootdir/EFI/BOOT" "$bootdir/EFI/salon"
    cp -r "$root/usr/lib/raspi-firmware/." "$bootdir/"
    cp -L "$root/vmlinuz" "$bootdir/a/vmlinuz"
    cp -L "$root/initrd.img" "$bootdir/a/initrd.img"
    cp "$root/usr/lib/linux-image-$kver/broadcom/"bcm2711*.dtb "$root/usr/lib/linux-image-$kver/broadcom/"bcm2837*.dtb "$bootdir/a/"
    cmdline A 2 > "$bootdir/a/cmdline.txt"
    # Slot B's directory gets its kernel from the first update (rauc-tryboot-post-install).
    mkdir -p "$bootdir/b"; cmdline B 3 > "$bootdir/b/cmdline.txt"
    cp "$here/boot/config.txt" "$bootdir/config.txt"
    cp "$here/boot/config.txt" "$bootdir/tryboot.txt"
    cp "$root/usr/share/salon/salon.toml.example" "$bootdir/salon.toml"
    sed -e "s/@DISKID@/$(printf '%08x' $((disk_id)))/" -e "s|@EXTRA_CMDLINE@||" \
        "$here/boot/grub.cfg" > "$bootdir/EFI/salon/grub.cfg"
    # GRUB's environment block: exactly 1024 bytes, slot A good, B empty.
    printf '# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0\n' \
        > "$bootdir/EFI/salon/grubenv"
    truncate -s 1024 "$bootdir/EFI/salon/grubenv"
    sed -i -e 's/\x00/#/g' "$bootdir/EFI/salon/grubenv"
    in_root_ro grub-mkimage -d /usr/lib/grub/arm64-efi -O arm64-efi -o /tmp/BOOTAA64.EFI \
        -c /tmp/grub-early.cfg -p /EFI/salon part_msdos fat ext2 normal configfile loadenv \
        test echo linux gzio search reboot halt sleep
    cp "$root/tmp/BOOTAA64.EFI" "$bootdir/EFI/BOOT/BOOTAA64.EFI"; rm -f "$root/tmp/BOOTAA64.EFI"
    find "$bootdir" -print0 | xargs -0 touch -h -d "@$SOURCE_DATE_EPOCH"
    rm -f "$out/boot.vfat"
    mkfs.vfat -C -F 32 -n SALONBOOT -i 5a10b007 --invariant "$out/boot.vfat" $(( boot_mb * 1024 )) >/dev/null
    (cd "$bootdir" && LC_ALL=C mcopy -i "$out/boot.vfat" -s -m -Q ./* ::/)
}

in_root_ro() {  # grub-mkimage in the rootfs (qemu-user), its early config copied in
    cp "$here/boot/grub-early.cfg" "$root/tmp/grub-early.cfg"
    chroot "$root" "$@"
    rm -f "$root/tmp/grub-early.cfg"
}

make_state_image() {
    local state=$out/statefs uid gid jgid
    rm -rf "$state"; mkdir -p "$state/salon" "$state/log/journal" "$state/ssh" "$state/tryboot"
    uid=$(awk -F: '$1=="salon"{print $3}' "$root/etc/passwd")
    gid=$(awk -F: '$1=="salon"{print $3}' "$root/etc/group")
    jgid=$(awk -F: '$1=="systemd-journal"{print $3}' "$root/etc/group")
    chown "$uid:$gid" "$state/salon"; chmod 750 "$state/salon"
    chown "0:$jgid" "$state/log/journal"; chmod 2755 "$state/log/journal"
    chmod 700 "$state/ssh"
    find "$state" -print0 | xargs -0 touch -h -d "@$SOURCE_DATE_EPOCH"
    make_ext4 "$state" "$out/state.ext4" salon-state 5a10c0de-0000-4000-8000-00000000005a "$state_mb"
}

# ---- 4. the disk image --------------------------------------------------------------
make_disk_image() {
    local img=$out/salon-$version-arm64.img mib=$((1024 * 1024)) start=4
    log "assembling $(basename "$img")"
    rm -f "$img"
    truncate -s $(( (start + boot_mb + 2 * slot_mb + state_mb) * mib )) "$img"
    sfdisk -q "$img" <<EOF
label: dos
label-id: $disk_id
unit: sectors
start=$(( start * 2048 )), size=$(( boot_mb * 2048 )), type=c, bootable
size=$(( slot_mb * 2048 )), type=83
size=$(( slot_mb * 2048 )), type=83
size=$(( state_mb * 2048 )), type=83
EOF
    dd if="$out/boot.vfat" of="$img" bs=1M seek=$start conv=notrunc,sparse status=none
    dd if="$out/rootfs-$variant.ext4" of="$img" bs=1M seek=$(( start + boot_mb )) conv=notrunc,sparse status=none
    dd if="$out/state.ext4" of="$img" bs=1M seek=$(( start + boot_mb + 2 * slot_mb )) \
        conv=notrunc,sparse status=none
    cp "$root/usr/share/salon/image-manifest.txt" "$out/salon-$version-arm64.manifest.txt"
    (cd "$out" && sha256sum "$(basename "$img")" > "$(basename "$img").sha256")
    ln -sfn "$(basename "$img")" "$out/salon-arm64.img"
    log "done: $img ($(du -h --apparent-size "$img" | cut -f1), $(du -h "$img" | cut -f1) allocated)"
}

# ---- 5. the update bundle -----------------------------------------------------------
make_bundle() {
    local dir=$out/bundle-$variant name
    name=salon-$version-$variant-arm64.raucb
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$out/rootfs-$variant.ext4" "$dir/rootfs.ext4"
    cat > "$dir/manifest.raucm" <<EOF
[update]
compatible=salon-pi-arm64
version=$version
description=$release

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
EOF
    rm -f "$out/$name"
    rauc bundle --cert="$out/pki/signing.cert.pem" --key="$out/pki/signing.key.pem" \
        "$dir" "$out/$name" >&2
    rm -rf "$dir"
    ln -sfn "$name" "$out/salon-$variant.raucb"
    log "done: $out/$name"
}

make_pki
case $what in
    rootfs) base_rootfs >/dev/null ;;
    image)
        build_rootfs; make_rootfs_image; make_boot_image; make_state_image; make_disk_image ;;
    bundle) build_rootfs; make_rootfs_image; make_bundle ;;
    all)
        build_rootfs; make_rootfs_image; make_boot_image; make_state_image; make_disk_image
        make_bundle ;;
esac
