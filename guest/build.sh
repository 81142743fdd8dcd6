#!/usr/bin/env bash
# Builds the LilyVM default guest: an i386 Linux 6.1 bzImage and a busybox initramfs.
#
#   guest/build.sh   -> guest/out/{bzImage,initramfs.cpio,initramfs.cpio.gz,SHA256SUMS,VERSIONS,...}
#
# Host: Debian 12 (bookworm), amd64 or i386, with these packages:
#   linux-source-6.1 busybox-static:i386 gcc make flex bison bc libelf-dev libssl-dev
#   cpio lz4 gzip xz-utils file
# (busybox-static:i386 needs `dpkg --add-architecture i386` on an amd64 host.)
#
# The output is reproducible: two runs on the same package versions give the same
# SHA-256 sums. The script compares them with the previous guest/out/SHA256SUMS.
# Work files go to guest/build/ (gitignored); the tree is re-extracted every run.
set -euo pipefail

guestDir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
buildDir=$guestDir/build
outDir=$guestDir/out
kernelTarball=/usr/src/linux-source-6.1.tar.xz
busyboxBin=/bin/busybox
jobs=$(nproc)

# 2024-01-01 00:00:00 UTC: every timestamp in the kernel and the initramfs.
export SOURCE_DATE_EPOCH=1704067200
export KBUILD_BUILD_TIMESTAMP='Mon Jan  1 00:00:00 UTC 2024'
export KBUILD_BUILD_USER=lilyvm
export KBUILD_BUILD_HOST=lilyvm
export KBUILD_BUILD_VERSION=1
export LC_ALL=C TZ=UTC
umask 022

log() { printf '[guest] %s\n' "$*" >&2; }
die() { printf '[guest] error: %s\n' "$*" >&2; exit 1; }

checkHost() {
  local tool
  for tool in gcc make flex bison bc cpio lz4 gzip xz file sha256sum dpkg-query; do
    command -v "$tool" >/dev/null || die "'$tool' not found: install the packages listed at the top of guest/build.sh"
  done
  [[ -f $kernelTarball ]] || die "$kernelTarball missing: apt-get install linux-source-6.1"
  file -L "$busyboxBin" | grep -q 'Intel 80386.*statically linked' \
    || die "$busyboxBin is not a static i386 binary: apt-get install busybox-static:i386"
}

extractKernel() {
  log "extracting $(basename "$kernelTarball")"
  rm -rf "$buildDir/linux"
  mkdir -p "$buildDir/linux"
  tar -xf "$kernelTarball" -C "$buildDir/linux" --strip-components=1
}

kmake() { make -C "$buildDir/linux" ARCH=i386 "$@"; }

configureKernel() {
  log "configuring: allnoconfig + guest/kernel.config"
  kmake -s KCONFIG_ALLCONFIG="$guestDir/kernel.config" allnoconfig
  kmake -s olddefconfig
  local config=$buildDir/linux/.config line symbol bad=0
  while IFS= read -r line; do
    case $line in
      CONFIG_*)
        grep -qxF "$line" "$config" || { log "kernel.config: '$line' did not survive; .config has: $(grep "^${line%%=*}=" "$config" || echo 'not set')"; bad=1; } ;;
      '# CONFIG_'*' is not set')
        symbol=${line#\# }; symbol=${symbol%% *}
        if grep -q "^$symbol=" "$config"; then log "kernel.config: '$line' did not survive: $(grep "^$symbol=" "$config")"; bad=1; fi ;;
    esac
  done < "$guestDir/kernel.config"
  [[ $bad == 0 ]] || die "fix guest/kernel.config (a dependency is missing or the symbol is forced by another option)"
}

buildKernel() {
  log "building bzImage with make -j$jobs (log: guest/build/kernel.log)"
  if ! kmake -j"$jobs" bzImage > "$buildDir/kernel.log" 2>&1; then
    tail -n 30 "$buildDir/kernel.log" >&2
    die "kernel build failed, see guest/build/kernel.log"
  fi
}

# One line per initramfs entry in gen_init_cpio's input format, sorted by path so
# that every directory precedes its contents.
initramfsSpec() {
  local stage=$1 dir applet path mode
  {
    for dir in /bin /dev /etc /mnt /proc /root /run /sbin /sys /tmp /usr /usr/bin /usr/sbin; do
      case $dir in
        /root) mode=700 ;;
        /tmp) mode=1777 ;;
        *) mode=755 ;;
      esac
      printf '%s\tdir %s %s 0 0\n' "$dir" "$dir" "$mode"
    done
    printf '/dev/console\tnod /dev/console 600 0 0 c 5 1\n'
    printf '/bin/busybox\tfile /bin/busybox %s/busybox 755 0 0\n' "$stage"
    while IFS= read -r path; do
      path=${path#.}
      if [[ -x $stage/rootfs$path ]]; then mode=755; else mode=644; fi
      printf '%s\tfile %s %s/rootfs%s %s 0 0\n' "$path" "$path" "$stage" "$path" "$mode"
    done < <(cd "$stage/rootfs" && find . -type f)
    while IFS= read -r path; do
      path=${path#.}
      printf '%s\tdir %s 755 0 0\n' "$path" "$path"
    done < <(cd "$stage/rootfs" && find . -mindepth 1 -type d)
    while IFS= read -r applet; do
      case $applet in bin/busybox | linuxrc) continue ;; esac
      printf '/%s\tslink /%s /bin/busybox 777 0 0\n' "$applet" "$applet"
    done < <("$busyboxBin" --list-full)
  } | sort -t "$(printf '\t')" -k1,1 -u | cut -f2-
}

buildInitramfs() {
  log "building initramfs"
  local stage=$buildDir/initramfs
  rm -rf "$stage"
  mkdir -p "$stage"
  cp "$busyboxBin" "$stage/busybox"
  cp -r "$guestDir/rootfs" "$stage/rootfs"
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  gcc -O2 -o "$stage/gen_init_cpio" "$buildDir/linux/usr/gen_init_cpio.c"
  initramfsSpec "$stage" > "$stage/spec"
  "$stage/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$stage/spec" > "$buildDir/initramfs.cpio"
  gzip -n -9 -c "$buildDir/initramfs.cpio" > "$buildDir/initramfs.cpio.gz"
  # Not shipped; kept to compare boot cost (docs/guest.md). The kernel's LZ4 unpacker
  # reads only the legacy frame format (-l).
  lz4 -q -l -9 -c "$buildDir/initramfs.cpio" > "$buildDir/initramfs.cpio.lz4"
}

# Boot protocol version: the 16-bit word at 0x206 of the setup header.
bootProtocol() {
  local word
  word=$(od -An -tu2 -j 0x206 -N 2 "$1" | tr -d ' ')
  printf '%d.%02d' $((word >> 8)) $((word & 0xff))
}

packageVersion() { dpkg-query -W -f='${Version}' "$1"; }

writeOutputs() {
  local previous=
  [[ -f $outDir/SHA256SUMS ]] && previous=$(cat "$outDir/SHA256SUMS")
  rm -rf "$outDir"
  mkdir -p "$outDir"
  cp "$buildDir/linux/arch/x86/boot/bzImage" "$outDir/bzImage"
  cp "$buildDir/initramfs.cpio" "$outDir/initramfs.cpio"
  cp "$buildDir/initramfs.cpio.gz" "$outDir/initramfs.cpio.gz"
  cp "$buildDir/linux/System.map" "$outDir/System.map"
  cp "$buildDir/linux/.config" "$outDir/config"
  {
    echo "linux-source-6.1 $(packageVersion linux-source-6.1)"
    echo "busybox-static:i386 $(packageVersion busybox-static:i386)"
    echo "gcc $(packageVersion gcc-12) ($(gcc --version | head -n 1))"
    echo "binutils $(packageVersion binutils) ($(ld --version | head -n 1))"
    echo "lz4 $(packageVersion lz4)"
    echo "gzip $(packageVersion gzip)"
    echo "kernel release $(kmake -s kernelrelease)"
    echo "kernel version $(sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "$buildDir/linux/include/generated/utsversion.h")"
    echo "boot protocol $(bootProtocol "$outDir/bzImage")"
  } > "$outDir/VERSIONS"
  (cd "$outDir" && sha256sum bzImage initramfs.cpio initramfs.cpio.gz System.map config VERSIONS > SHA256SUMS)
  log "outputs in guest/out:"
  (cd "$outDir" && ls -l bzImage initramfs.cpio initramfs.cpio.gz >&2 && cat SHA256SUMS >&2)
  if [[ -z $previous ]]; then
    log "no previous SHA256SUMS to compare with"
  elif [[ $previous == "$(cat "$outDir/SHA256SUMS")" ]]; then
    log "identical to the previous build"
  else
    log "differs from the previous build:"
    diff <(echo "$previous") "$outDir/SHA256SUMS" >&2 || true
  fi
}

main() {
  checkHost
  mkdir -p "$buildDir"
  extractKernel
  configureKernel
  buildKernel
  buildInitramfs
  writeOutputs
}

main "$@"
