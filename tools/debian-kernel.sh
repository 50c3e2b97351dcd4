#!/usr/bin/env bash
# Prints the directory of Debian's current amd64 kernel, fetched once into
# the cache: vmlinuz and modules/ (the package's lib/modules/*/kernel).
# tools/in-kvm-vm.sh boots it as the nested-KVM VM; tools/make-linux-disk.sh
# puts it on the disk the pc board boots.
#
#   tools/debian-kernel.sh
#
# The version is the one linux-image-amd64 depends on now, or the newest
# cached when the package lists cannot tell. The package comes with
# `apt-get download` (Debian's archive, the only place it may come from).
# Cache: $KVMRR_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/kvmrr, under
# nested-kvm/. Exit status 1, with the reason on stderr, when there is no
# kernel to be had; 2 on a usage error.
set -euo pipefail

[ $# -eq 0 ] || { sed -n '/^#   tools/p' "$0" | sed 's/^#   /usage: /' >&2; exit 2; }
fail() { echo "debian-kernel: $*" >&2; exit 1; }

cache=${KVMRR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmrr}/nested-kvm

kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
pkg=$(kernel_package)
if [ -z "$pkg" ]; then
  apt-get update -qq >&2 2>/dev/null || true
  pkg=$(kernel_package)
fi
if [ -z "$pkg" ]; then
  pkg=$(ls -1d "$cache"/linux-image-*-amd64 2>/dev/null | sort -V | tail -n 1 | xargs -r basename)
  [ -n "$pkg" ] || fail "apt-cache cannot name the kernel behind linux-image-amd64, and none is cached in $cache"
fi
kdir=$cache/$pkg
have_kernel() { [ -s "$kdir/vmlinuz" ] && [ -d "$kdir/modules" ]; }
if ! have_kernel; then
  mkdir -p "$cache" || fail "cannot create the cache directory $cache"
  # One fetch at a time per cache: a second caller waits, then finds it.
  exec 8>"$cache/.lock"
  flock 8
fi
if ! have_kernel; then
  echo "debian-kernel: fetching $pkg into $cache (once)" >&2
  tmp=$(mktemp -d "$cache/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download writes as the _apt user where it can; a cache under
  # root's home is not writable by it, so let it write as root.
  (cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$pkg" >/dev/null 2>&1) || fail "apt-get download $pkg failed"
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x" || fail "dpkg-deb could not unpack $pkg"
  mkdir -p "$tmp/k"
  cp "$tmp"/x/boot/vmlinuz-* "$tmp/k/vmlinuz"
  mv "$tmp"/x/lib/modules/*/kernel "$tmp/k/modules"
  rm -rf "$kdir"
  mv "$tmp/k" "$kdir"
fi
printf '%s\n' "$kdir"
