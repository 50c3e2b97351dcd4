# The kvmrr trace schema. docs/TRACE_FORMAT.md describes the file around it
# (file header, chunks, footer); this file describes what is inside.
#
# Compatibility rules: fields are only ever added (with new ordinals), never
# renumbered or removed, so a newer reader reads an older trace (missing
# fields read as their defaults) and an older reader skips fields it does
# not know. A change that an older reader must not ignore raises
# minReaderVersion in the header, and such a reader refuses the trace.
@0xaaa9dd0a49c4d6f1;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kvmrr::schema");

struct TraceHeader {
  formatVersion @0 :UInt32;     # of the writer
  minReaderVersion @1 :UInt32;  # oldest reader that understands this trace
  kvmrrVersion @2 :Text;
  machine @3 :MachineDesc;
  guest @4 :GuestDesc;
  vcpuCount @5 :UInt32;
  initialRegs @6 :List(VcpuRegs);  # one per vCPU
  host @7 :HostDesc;
  options @8 :RecordOptions;
  startTimeNs @9 :Int64;           # CLOCK_REALTIME at the start of recording
  regions @10 :List(RegionDesc);   # regions known at the start; more come as regionDef events
  accelerator @11 :Text;           # what ran the vCPU: "kvm" or "unicorn" (empty in older traces)
}

struct MachineDesc {
  ramSize @0 :UInt64;
  romSize @1 :UInt64;
  romLowAlias @2 :Bool;
  windows @3 :List(Window);
  devices @4 :List(DeviceDesc);
  board @5 :Text;      # format 5: "pc" for the PC board ("" or "kvmrr": kvmrr's own)
  firmware @6 :Data;   # format 5: the firmware ROM image (the pc board boots it)
  diskSectors @7 :UInt64;  # format 7: the pc board's IDE disk (primary master), in 512-byte sectors; 0: none
  # format 8: that disk's geometry (IDENTIFY, CMOS) and BIOS translation
  # (CMOS 0x39: 0 none, 1 LBA, 2 large), as chosen at the recording's start
  # from the disk's partition table; 0 cylinders: not recorded (format 7),
  # the geometry from the size and no CMOS entry, as those traces ran.
  diskCylinders @8 :UInt16;
  diskHeads @9 :UInt8;
  diskSecs @10 :UInt8;
  diskTranslation @11 :UInt8;
}

struct Window {
  name @0 :Text;
  io @1 :Bool;   # I/O port space (else memory)
  addr @2 :UInt64;
  size @3 :UInt64;
}

struct DeviceDesc {
  name @0 :Text;
  modelVersion @1 :UInt32;
}

enum CpuMode {
  real @0;
  long @1;
}

struct GuestDesc {
  name @0 :Text;
  hash @1 :UInt64;     # xxHash64 of the image file
  mode @2 :CpuMode;
  entry @3 :UInt64;
  args @4 :List(UInt64);
  segments @5 :List(Segment);  # the image itself: a trace is self-contained
}

struct Segment {
  addr @0 :UInt64;
  data @1 :Data;
  zeroFill @2 :UInt64;
}

struct VcpuRegs {
  gprs @0 :List(UInt64);  # rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags (18)
  cr0 @1 :UInt64;
  cr3 @2 :UInt64;
  cr4 @3 :UInt64;
  efer @4 :UInt64;
}

struct HostDesc {
  kernelRelease @0 :Text;
  kvmApiVersion @1 :Int32;
  capabilities @2 :List(Capability);
  manualDirtyLogProtect @3 :Bool;
  maxMemslots @4 :UInt32;
}

struct Capability {
  name @0 :Text;
  value @1 :Int64;
}

struct RecordOptions {
  dirtyIntervalExits @0 :UInt64;  # 0: off
  dirtyIntervalMs @1 :UInt64;     # 0: off
  maxExits @2 :UInt64;
  timeoutMs @3 :UInt64;
  dirtyMode @4 :Text;             # "bitmap" or "ring"
  dirtyMarkPort @5 :Int32 = -1;   # also a harvest after each guest write to this I/O port (format 3; -1: none)
  clock @6 :Text;                 # format 5: "host" or "virtual" ("": host)
  stopAtOutput @7 :Text;          # format 5: the run ended once this appeared on the serial port or debug console
  laxMmio @8 :Bool;               # format 6: --lax-mmio (MMIO to unmapped memory reads all ones, the run goes on)
  ticksBetweenExits @9 :Bool;     # format 7: --ticks-between-exits (interrupts also came between exits: no guest replay)
  deterministicCpu @10 :Bool;     # format 10: --deterministic-cpu (CPUID without the TSC and RDRAND/RDSEED)
}

struct RegionDesc {
  id @0 :UInt32;
  name @1 :Text;
  kind @2 :Text;
}

# The payload of one chunk: event i has sequence number
# chunk.firstSeq + i (the sequence numbers of a trace are contiguous).
struct Chunk {
  events @0 :List(Event);
}

struct Event {
  vcpu @0 :UInt16;
  union {
    pio @1 :Access;
    mmio @2 :Access;
    topology @3 :TopologyCommit;
    memslot @4 :MemslotChange;
    dirty @5 :DirtyLog;
    dmaWrite @6 :DmaWrite;
    clock @7 :Int64;          # CLOCK_REALTIME ns a device read
    entropy @8 :Data;
    serialIn @9 :Int16;       # the byte, or -1 when none was waiting
    diskRead @10 :DiskRead;
    diskWrite @11 :DiskWrite; # what the guest stored on the disk (no data: it came from the guest)
    regionDef @12 :RegionDesc;
    end @13 :RunEnd;
    interrupt @23 :Interrupt; # format 5: an external interrupt delivered to the vCPU
    dmaRead @24 :DmaWrite;    # format 5: what a device read from guest memory (a DMA descriptor)
    pause @25 :Pause;         # format 12: the run loop stopped the guest between exits
    # Format 4: a PIO or MMIO access kept in the event itself. pio and mmio
    # above point at an Access struct placed after the event list, so
    # every event held a pointer whose offset differed from its
    # neighbour's and no two events packed to the same bytes; inline, a
    # guest's repeated accesses give repeated bytes that LZ4 finds. Writers
    # of format 4 and later use only this; readers still read pio and mmio.
    access :group {
      io @14 :Bool;           # PIO (true) or MMIO (false)
      addr @15 :UInt64;
      size @16 :UInt8;
      isWrite @17 :Bool;
      count @18 :UInt32 = 1;  # string I/O repetitions
      value @19 :UInt64;      # data written, or the value the read returned (count == 1)
      bulk @20 :Data;         # all data when count > 1
      region @21 :UInt32;     # RegionDesc id of the region that answered; 0xffffffff for none
      status @22 :AccessStatus;
    }
  }
}

enum AccessStatus {
  ok @0;
  unassigned @1;
  invalid @2;
}

struct Access {
  addr @0 :UInt64;
  size @1 :UInt8;
  isWrite @2 :Bool;
  count @3 :UInt32 = 1;   # string I/O repetitions
  value @4 :UInt64;       # data written, or the value the read returned (count == 1)
  bulk @5 :Data;          # all data when count > 1
  region @6 :UInt32;      # RegionDesc id of the region that answered; 0xffffffff for none
  status @7 :AccessStatus;
}

struct TopologyCommit {
  space @0 :UInt8;        # 0 memory, 1 I/O
  flatViewHash @1 :UInt64;
  ranges @2 :UInt32;
  view @3 :List(ViewRange);  # the whole flat view (empty in older traces), so a
                             # replay can show how a view it rendered differs
}

struct ViewRange {
  start @0 :UInt64;
  last @1 :UInt64;        # inclusive: a range may cover all 2^64 addresses
  region @2 :UInt32;      # RegionDesc id
  offset @3 :UInt64;      # of start inside the region
  readonly @4 :Bool;
  romd @5 :Bool;
  nonvolatile @6 :Bool;
  dirtyLog @7 :UInt8;     # dirty-log client mask
}

enum MemslotOp {
  add @0;
  delete @1;
  flags @2;
}

struct MemslotChange {
  op @0 :MemslotOp;
  slot @1 :UInt32;
  guestPhys @2 :UInt64;
  size @3 :UInt64;
  flags @4 :UInt32;
  ramBlock @5 :UInt32;
  blockOffset @6 :UInt64;
}

struct DirtyLog {
  epoch @0 :UInt64;
  slot @1 :UInt32;
  guestPhys @2 :UInt64;
  pages @3 :UInt64;       # pages in the slot
  dirtyPages @4 :UInt64;
  runs @5 :Data;          # LEB128 (gap, length) pairs of dirty page runs: size follows the dirty set
  timeNs @6 :UInt64;      # when the bitmap was read: ns since the recording started (format 3; 0: not known)
}

# An external interrupt the VMM delivered: which vector, after how many
# exits (the one it followed), at which rip it arrived.
struct Interrupt {
  vector @0 :UInt8;
  exit @1 :UInt64;
  rip @2 :UInt64;
}

# The run loop stopped the guest between two exits (--ticks-between-exits):
# after how many exits and, where counted (the emulator), instructions.
struct Pause {
  exit @0 :UInt64;
  instructions @1 :UInt64;
  counted @2 :Bool;
}

struct DmaWrite {
  addr @0 :UInt64;
  data @1 :Data;
}

struct DiskRead {
  offset @0 :UInt64;
  data @1 :Data;
}

struct DiskWrite {
  offset @0 :UInt64;
  length @1 :UInt64;
}

struct RunEnd {
  reason @0 :Text;
  exitStatus @1 :Int32;
  exits @2 :UInt64;
  detail @3 :UInt64;
  regs @4 :VcpuRegs;
  devices @5 :List(DeviceState);  # each device's state digest at the end
  betweenExits @6 :Bool;          # a time limit or signal stopped the guest between two exits (format 9)
}

struct DeviceState {
  name @0 :Text;
  digest @1 :UInt64;          # all guest-visible state, memory it owns included
  registerDigest @2 :UInt64;  # the part only its I/O and host inputs change
}
