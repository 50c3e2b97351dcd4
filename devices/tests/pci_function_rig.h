// A machine with PciHost and one PCI function on bus 0, for tests of a
// function's configuration space through mechanism #1 (0xcf8/0xcfc).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "core/address.h"
#include "core/address_space.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/pci_bus.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr::testing {

template <class Function>
struct PciFunctionRig {
    FakeRunControl run;
    PciHost host{run};
    Function fn;
    MemorySystem sys;
    MachineMemory m;

    PciFunctionRig() {
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"pci-conf", AddressSpace::Kind::Io, 0xcf8, 8});
        m = build_machine(sys, l);
        host.add_function(fn);
        host.attach(sys, m);
        fn.attach(sys, m);
    }
    uint32_t address(uint8_t reg) const { return 0x80000000u | (uint32_t{fn.devfn()} << 8) | (reg & 0xfcu); }
    uint32_t rd(uint8_t reg, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), address(reg), 4), AccessStatus::Ok);
        return static_cast<uint32_t>(m.io_space->read(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), size).value);
    }
    void wr(uint8_t reg, uint32_t v, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), address(reg), 4), AccessStatus::Ok);
        EXPECT_EQ(m.io_space->write(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), v, size), AccessStatus::Ok);
    }
};

}  // namespace kvmrr::testing
