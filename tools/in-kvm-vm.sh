#!/usr/bin/env bash
# Runs a command where /dev/kvm works, and returns its exit status.
#
# On a machine with a usable /dev/kvm the command runs directly. Elsewhere
# (a kvm-pvm guest, a container, or a host whose /dev/kvm is kvm-pvm's,
# which runs only 64-bit guest code natively and fails on real-mode and
# 32-bit guests' exceptions and interrupts) it boots Debian's own kernel under QEMU's
# software CPU (TCG), whose emulated AMD SVM with nested paging gives that
# kernel a working KVM, and runs the command inside as root: the host's root
# file system is the VM's (read-only over virtio-9p, with a throwaway
# overlay taking writes), except the current directory's tree, which is
# shared read-write so that what the command writes there comes back. The
# command's stdout and stderr arrive on ours through virtio-serial ports,
# which QEMU writes out as each guest write is made (an emulated UART would
# drop what is still in its FIFO when the VM powers off); the VM's own
# console goes to a log (shown with --verbose, and on failure).
#
# Nested KVM under TCG is about ten times slower than real KVM: right for
# correctness, never for timing figures.
#
# Exit status: the command's; 2 for a usage error; 125 when this script
# cannot provide a VM (missing packages, kvm_amd refusing to load, a boot
# that does not finish within --timeout).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: tools/in-kvm-vm.sh [--verbose] [--timeout SECONDS] [--memory MIB] [--cpus N]
                          [--cpu-model MODEL] [--force-vm] [--] COMMAND [ARGS...]

Runs COMMAND with a working /dev/kvm: directly where this machine has one,
otherwise inside a nested-KVM VM (Debian's kernel under QEMU's TCG with AMD
SVM), in the same directory, with the same environment, as root.

  --verbose          show the VM's console (kernel and init messages) on stderr
  --timeout SECONDS  how long the VM may take to come up (default 300)
  --memory MIB       the VM's memory (default 4096, or half the free memory if less)
  --cpus N           the VM's CPUs (default: this machine's)
  --cpu-model MODEL  QEMU's CPU model (default max; an AMD one: kvm_amd needs SVM,
                     and QEMU's software CPU has no VMX for kvm_intel)
  --force-vm         use the VM even where /dev/kvm works here

Cache: $KVMRR_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/kvmrr (the
kernel and the initramfs built from it). Exit status: COMMAND's; 2 on a
usage error; 125 when no VM could be had.
EOF
}

die_usage() { echo "in-kvm-vm: $*" >&2; usage >&2; exit 2; }
fail() { echo "in-kvm-vm: $*" >&2; exit 125; }

verbose=0
boot_timeout=300
# 4 GiB, or half of what this machine has free where that is less.
avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
memory=4096
[ "${avail_mib:-0}" -gt 512 ] && [ $((avail_mib / 2)) -lt $memory ] && memory=$((avail_mib / 2))
cpus=$(nproc)
force_vm=0
cpu_model=max
while [ $# -gt 0 ]; do
  case "$1" in
    --verbose) verbose=1; shift ;;
    --timeout|--memory|--cpus)
      [ $# -ge 2 ] || die_usage "$1 needs a value"
      [[ "$2" =~ ^[1-9][0-9]{0,6}$ ]] || die_usage "$1 takes a positive whole number, not '$2'"
      case "$1" in
        --timeout) boot_timeout=$2 ;;
        --memory) memory=$2 ;;
        --cpus) cpus=$2 ;;
      esac
      shift 2 ;;
    --cpu-model)
      [ $# -ge 2 ] || die_usage "$1 needs a value"
      [[ "$2" =~ ^[A-Za-z0-9_.-]+$ ]] || die_usage "$1: '$2' is not a CPU model name"
      cpu_model=$2
      shift 2 ;;
    --force-vm) force_vm=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die_usage "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || die_usage "no command given"

# Usable means openable for reading and writing, not merely present, and
# not kvm-pvm's (the module's directory tells): kvmrr's guests start in real
# mode, which kvm-pvm emulates in its kernel without exception or
# interrupt delivery (KVM_RUN ends in an emulation failure, for QEMU too).
if [ "$force_vm" -eq 0 ] && [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null && ! [ -d /sys/module/kvm_pvm ]; then
  exec "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
cwd=$(pwd -P)
[ "$cwd" != / ] || fail "run from a directory other than /: that directory is shared read-write with the VM"
case "$cwd" in
  *$'\n'*) fail "the current directory's name holds a newline" ;;
esac

# Packages: QEMU for the VM, busybox and cpio for its initramfs.
"$here/setup.sh" qemu-system-x86 busybox-static cpio >&2 ||
  fail "could not install qemu-system-x86, busybox-static and cpio (see above)"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found after installing qemu-system-x86"
busybox=/bin/busybox
file_out=$(LC_ALL=C od -An -c -N 4 "$busybox" 2>/dev/null | tr -d ' ') || true
[ "$file_out" = '177ELF' ] || fail "$busybox is not an executable (busybox-static)"

# The kernel: Debian's, fetched once (tools/debian-kernel.sh).
kdir=$("$here/debian-kernel.sh") || fail "no kernel for the VM (see above)"
cache=$(dirname "$kdir")

# The modules the VM loads, dependencies first, from each module's own
# `depends=` in its .modinfo section (no depmod or modinfo needed here).
wanted_modules=(kvm_amd virtio_pci virtio_console 9pnet_virtio 9p overlay)
module_order() {
  local -A path=() done=()
  local f n
  while IFS= read -r f; do
    n=$(basename "$f" .ko)
    path[${n//-/_}]=$f
  done < <(find "$kdir/modules" -name '*.ko')
  visit() {
    local m=$1 d deps
    [ -n "${done[$m]:-}" ] && return 0
    [ -n "${path[$m]:-}" ] || fail "module $m is not in $kdir/modules"
    done[$m]=1
    deps=$(LC_ALL=C grep -a -o 'depends=[[:print:]]*' "${path[$m]}" | head -n 1 | cut -d= -f2)
    for d in ${deps//,/ }; do visit "$d"; done
    echo "${path[$m]}"
  }
  for n in "${wanted_modules[@]}"; do visit "$n"; done
}

# The VM's init: load the modules, check /dev/kvm, build the root as an
# overlay of the host's, run the command, report its status on the console.
read -r -d '' init_script <<'EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
vm_fail() {
  { echo "KVMRR-VM-FAIL: $*"; dmesg | tail -n 5 | sed 's/^/KVMRR-VM-FAIL:   /'; } >/dev/console
  sleep 1  # the console is a UART: let it drain before the power goes
  poweroff -f
}
for m in $(cat /modules/order); do
  insmod "/modules/$m" || vm_fail "insmod $m failed"
done
[ -c /dev/kvm ] || vm_fail "kvm_amd loaded but /dev/kvm is missing"
run=$(sed -n 's/.*kvmrr_run=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /host /scratch /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host ||
  vm_fail "cannot mount the host's root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /scratch
mkdir -p /scratch/upper /scratch/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/scratch/upper,workdir=/scratch/work /newroot ||
  vm_fail "cannot mount the overlay root"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
cwd=$(cat "/host$run/cwd")
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 cwd "/newroot$cwd" ||
  vm_fail "cannot mount $cwd over 9p"
port() {
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
  done
  vm_fail "no virtio-serial port named $1"
}
out=$(port stdout); err=$(port stderr); status=$(port status)
# The loopback interface, for commands that talk TCP to themselves (the
# GDB stub's tests).
ip link set lo up || vm_fail "cannot bring up the loopback interface"
echo "KVMRR-READY" >"$status"
chroot /newroot /bin/bash "$run/command.sh" </dev/null >"$out" 2>"$err"
echo "KVMRR-STATUS $?" >"$status"
poweroff -f
EOF

prepare_initrd() {
  local key tmp f i=0
  key=$( { printf '%s\n' "$init_script" "${wanted_modules[@]}"; sha256sum "$busybox"; } | sha256sum | cut -c1-16)
  initrd=$kdir/initrd-$key.cpio.gz
  [ -s "$initrd" ] && return 0
  tmp=$(mktemp -d "$cache/initrd.XXXXXX")
  mkdir -p "$tmp"/{bin,proc,sys,dev,modules}
  cp "$busybox" "$tmp/bin/busybox"
  printf '%s\n' "$init_script" >"$tmp/init"
  chmod +x "$tmp/init"
  while IFS= read -r f; do
    i=$((i + 1))
    cp "$f" "$tmp/modules/$(printf '%02d' $i)-$(basename "$f")"
    printf '%02d-%s\n' $i "$(basename "$f")" >>"$tmp/modules/order"
  done < <(module_order)
  (cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp" ||
    { rm -rf "$tmp"; fail "could not build the initramfs"; }
  mv "$initrd.tmp" "$initrd"
  rm -rf "$tmp"
}

# One preparation at a time per cache: a second caller waits for the first
# (tools/debian-kernel.sh took the same lock for the kernel, and let it go).
exec 8>"$cache/.lock"
flock 8
prepare_initrd
flock -u 8

run=$(mktemp -d "${TMPDIR:-/tmp}/kvmrr-vm.XXXXXX")
qemu_pid=
cat_out=
cat_err=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  # The copies end by themselves once QEMU has gone and they have drained
  # the FIFOs; they are killed only where QEMU never opened them.
  local c
  for c in $cat_out $cat_err; do
    timeout 5 tail --pid="$c" -f /dev/null || kill "$c" 2>/dev/null || true
  done
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$cwd" >"$run/cwd"
{
  echo '#!/bin/bash'
  # The caller's environment, less what names this shell or its terminal.
  export -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_)='
  printf 'cd -- %q || exit 125\n' "$cwd"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$run/command.sh"

qemu_path() { printf '%s' "${1//,/,,}"; }  # QEMU option values escape commas by doubling
# The command's stdout and stderr reach ours through FIFOs that cat copies
# out: cat writes through our own file descriptors, so a caller's file keeps
# its offset (QEMU reopening /proc/self/fd/1 would write from offset 0). QEMU's
# pipe chardev opens NAME.in and NAME.out read-write, so neither open blocks.
mkfifo "$run/out.in" "$run/out.out" "$run/err.in" "$run/err.out"
cat "$run/out.out" &
cat_out=$!
cat "$run/err.out" >&2 &
cat_err=$!
# multidevs=remap: the host's /proc, /sys, /dev/pts... are roots of their own
# filesystems, all with inode number 1; unremapped, the VM's 9p client takes
# them for one directory, and /sys mounted in the VM then hides its /proc.
qemu-system-x86_64 -accel tcg -cpu "$cpu_model" -smp "$cpus" -m "$memory" \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off kvmrr_run=$run" \
  -chardev "file,id=console,path=$(qemu_path "$run/console.log")" -serial chardev:console \
  -device virtio-serial-pci \
  -chardev "pipe,id=out,path=$(qemu_path "$run/out")" -device virtserialport,chardev=out,name=stdout \
  -chardev "pipe,id=err,path=$(qemu_path "$run/err")" -device virtserialport,chardev=err,name=stderr \
  -chardev "file,id=status,path=$(qemu_path "$run/status")" -device virtserialport,chardev=status,name=status \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev "local,id=cwd,path=$(qemu_path "$cwd"),security_model=none,multidevs=remap" \
  -device virtio-9p-pci,fsdev=cwd,mount_tag=cwd \
  </dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
touch "$run/console.log" "$run/status"
if [ "$verbose" -eq 1 ]; then
  tail -n +1 -f --pid="$qemu_pid" "$run/console.log" >&2 &
fi

console_tail() {
  if [ -s "$run/console.log" ]; then
    echo "in-kvm-vm: the VM's console ended with:" >&2
    tail -n 20 "$run/console.log" | sed 's/^/  /' >&2
  fi
  if [ -s "$run/qemu.log" ]; then
    echo "in-kvm-vm: QEMU said:" >&2
    tail -n 10 "$run/qemu.log" | sed 's/^/  /' >&2
  fi
}

# Wait for the VM to come up, within the time-out.
deadline=$((SECONDS + boot_timeout))
until grep -q '^KVMRR-READY' "$run/status" 2>/dev/null; do
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    wait "$qemu_pid" || true
    qemu_pid=
    if grep -q '^KVMRR-VM-FAIL' "$run/console.log"; then
      grep '^KVMRR-VM-FAIL' "$run/console.log" | sed 's/^KVMRR-VM-FAIL: /in-kvm-vm: in the VM: /' >&2
      fail "the VM could not provide /dev/kvm (kvm_amd needs QEMU's emulated AMD SVM)"
    fi
    console_tail
    fail "the VM ended before it came up"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
    console_tail
    fail "the VM did not come up within $boot_timeout s (--timeout)"
  fi
  sleep 0.2
done

wait "$qemu_pid" || true
qemu_pid=
status=$(sed -n 's/^KVMRR-STATUS \([0-9][0-9]*\)$/\1/p' "$run/status" | tail -n 1)
if [ -z "$status" ]; then
  console_tail
  fail "the VM ended without reporting the command's status"
fi
exit "$status"
