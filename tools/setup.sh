#!/usr/bin/env bash
# Installs the Debian packages kvmrr builds with, if any are missing; with
# package names as arguments, those instead (tools/in-kvm-vm.sh asks for its
# own this way). Runs apt-get directly as root, through sudo otherwise; does
# nothing when everything is there (so it is cheap to run before every build).
set -euo pipefail

if [ $# -gt 0 ]; then
  packages=("$@")
else
  packages=(
    build-essential cmake ninja-build pkg-config
    capnproto libcapnp-dev liblz4-dev libxxhash-dev
    libgtest-dev libbenchmark-dev libcli11-dev
    libunicorn-dev  # the emulated accelerator (core/emu/), used where /dev/kvm is missing
    libboost-context-dev  # its vCPU's fiber: stack switches without a system call
    libzstd-dev  # bench/ only: zstd next to LZ4 on the same traces
    libcairo2-dev fonts-dejavu-core  # kvmrr dirty: its pictures (PNG and SVG) and their font
    seabios  # the pc board's firmware (/usr/share/seabios/bios.bin), booted by its tests
    nlohmann-json3-dev  # export/tests: parse the Perfetto JSON with a real parser
    qemu-system-x86  # kvmrr qemu-check: QEMU's own pc devices, asked through qtest
    gdb  # kvmrr replay --guest --gdb: its test drives a real GDB against the stub
    # tools/make-linux-disk.sh (the Linux boot test): a FAT disk with
    # SYSLINUX, and an initramfs with busybox
    syslinux mtools dosfstools busybox-static cpio
  )
  # tools/check.sh fuzzes the trace reader and replay (tools/fuzz-long.sh)
  # when a Debian clang is installed;
  # clang's libFuzzer runtime (-fsanitize=fuzzer) is a package of its own.
  if command -v clang++ >/dev/null 2>&1 &&
    dpkg-query -S "$(readlink -f "$(command -v clang++)")" >/dev/null 2>&1; then
    packages+=("libclang-rt-$(clang++ -dumpversion | cut -d. -f1)-dev")
  fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
