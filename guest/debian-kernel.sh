#!/usr/bin/env bash
# Fetches Debian's stock i386 kernel (linux-image-686: 6.1, non-PAE) for the guest
# benchmark's second guest: the same busybox initramfs on a distribution kernel.
#
#   guest/debian-kernel.sh   -> guest/build/debian/vmlinuz-<version>-686 (gitignored)
#
# Host: Debian 12 with the i386 architecture added (`dpkg --add-architecture i386 &&
# apt-get update`). Only the kernel image is kept; the package's modules are not needed
# (the initramfs loads none). Running it again replaces the kernel with the current one.
set -euo pipefail

outDir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build/debian

package=$(apt-cache depends linux-image-686:i386 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [ -z "$package" ]; then
  echo "debian-kernel.sh: apt does not know linux-image-686:i386; run: dpkg --add-architecture i386 && apt-get update" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work" # apt downloads as its own user (_apt) when it can write there
(cd "$work" && apt-get download -q "$package")
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
kernel=$(ls "$work"/boot/vmlinuz-*)
mkdir -p "$outDir"
rm -f "$outDir"/vmlinuz-*
cp "$kernel" "$outDir/"
echo "$outDir/$(basename "$kernel") ($package, $(stat -c %s "$kernel") bytes)"
