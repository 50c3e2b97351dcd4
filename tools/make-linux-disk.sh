#!/usr/bin/env bash
# Makes a disk image that boots a Linux kernel on the pc board: a FAT
# file system (no partition table) with SYSLINUX in its boot sector, the
# kernel, an initramfs whose /init (busybox) prints what it sees and powers
# the machine off (with --shell, after a shell on the serial console that
# the user ends with `exit`; with --read-disk, after loading the kernel's
# IDE driver, ata_piix, which moves data by bus-master DMA, and printing
# the md5sum of the disk's first MiB as read through it), and
# syslinux.cfg with the command line. For
#   kvmrr record --board pc --firmware /usr/share/seabios/bios.bin \
#       --disk IMAGE --accel kvm --ticks-between-exits -o linux.trace
# (docs/ARCHITECTURE.md, "The pc board").
#
#   tools/make-linux-disk.sh [--kernel VMLINUZ] [--append TEXT] [--shell] [--read-disk] IMAGE
#
# The kernel defaults to Debian's current one, from tools/debian-kernel.sh
# (the one tools/in-kvm-vm.sh boots; fetched once into its cache, with its
# modules, which --read-disk takes from modules/ beside the kernel). Needs Debian's syslinux, mtools, dosfstools and
# busybox-static; exit 2 on a usage error, 1 when something is missing.
set -euo pipefail

usage() { sed -n '/^#   tools/p' "$0" | sed 's/^#   //' >&2; exit 2; }
kernel=
shell=0
read_disk=0
append="console=ttyS0 noapic nolapic tsc=reliable panic=-1"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
    --append) [ $# -ge 2 ] || usage; append=$2; shift 2 ;;
    --shell) shell=1; shift ;;
    --read-disk) read_disk=1; shift ;;
    -h|--help) usage ;;
    -*) echo "make-linux-disk: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
image=$1

for tool in syslinux mcopy mkfs.fat busybox cpio gzip; do
  command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null 2>&1 || {
    echo "make-linux-disk: $tool is missing (apt-get install syslinux mtools dosfstools busybox-static cpio)" >&2
    exit 1
  }
done
busybox=$(command -v busybox)
if [ -z "$kernel" ]; then
  kdir=$("$(dirname "$0")/debian-kernel.sh") || { echo "make-linux-disk: no --kernel, and no Debian kernel to be had (see above)" >&2; exit 1; }
  kernel=$kdir/vmlinuz
fi
[ -r "$kernel" ] || { echo "make-linux-disk: cannot read the kernel $kernel" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/dev"
cp "$busybox" "$work/root/bin/busybox"
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "kvmrr-linux: userspace reached: $(/bin/busybox cat /proc/cmdline)"
INIT
if [ "$read_disk" = 1 ]; then
  # ata_piix and what it needs, in the order of their dependencies (the
  # modules' own depends= lines; busybox's insmod does not follow them).
  mods=(scsi_common scsi_mod libata ata_piix crct10dif_common crct10dif_generic crc-t10dif crc64 crc64-rocksoft t10-pi sd_mod)
  mkdir -p "$work/root/lib/modules"
  for m in "${mods[@]}"; do
    ko=$(find "$(dirname "$kernel")/modules" -name "$m.ko" 2>/dev/null | head -n 1)
    [ -n "$ko" ] || { echo "make-linux-disk: --read-disk needs $m.ko under $(dirname "$kernel")/modules" >&2; exit 1; }
    cp "$ko" "$work/root/lib/modules/"
  done
  cat >> "$work/root/init" <<INIT
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in ${mods[*]}; do /bin/busybox insmod /lib/modules/\$m.ko || /bin/busybox echo "kvmrr-linux: insmod \$m failed"; done
i=0
while [ ! -b /dev/sda ] && [ \$i -lt 300 ]; do /bin/busybox sleep 0.1; i=\$((i+1)); done
[ -b /dev/sda ] || /bin/busybox echo "kvmrr-linux: no /dev/sda after 30 s; modules: \$(/bin/busybox cat /proc/modules | /bin/busybox cut -d' ' -f1 | /bin/busybox tr '\\n' ' ')"
/bin/busybox echo "kvmrr-linux: disk md5 \$(/bin/busybox dd if=/dev/sda bs=65536 count=16 2>/dev/null | /bin/busybox md5sum)"
INIT
fi
if [ "$shell" = 1 ]; then
  # The console's own device (cttyhack finds ttyS0), so that the shell has
  # a controlling terminal: Ctrl-C reaches what it runs.
  cat >> "$work/root/init" <<'INIT'
/bin/busybox grep -q ' /dev ' /proc/mounts || /bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
setsid cttyhack sh
INIT
fi
echo '/bin/busybox poweroff -f' >> "$work/root/init"
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$work/initrd.gz"
cat > "$work/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND $append
CFG
size_kib=$(( ( $(stat -c %s "$kernel") + $(stat -c %s "$work/initrd.gz") ) / 1024 + 8192 ))
rm -f "$image"
truncate -s "${size_kib}K" "$image"
PATH=$PATH:/usr/sbin mkfs.fat -F 16 -n KVMRRLINUX "$image" >/dev/null
syslinux --install "$image"
mcopy -i "$image" "$kernel" ::vmlinuz
mcopy -i "$image" "$work/initrd.gz" ::initrd.gz
mcopy -i "$image" "$work/syslinux.cfg" ::syslinux.cfg
echo "make-linux-disk: $image ($size_kib KiB): $(basename "$kernel") from $kernel, command line: $append$([ "$read_disk" = 1 ] && echo ', the disk read through ata_piix')$([ "$shell" = 1 ] && echo ', a shell on the console')"
