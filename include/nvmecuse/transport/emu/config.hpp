#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nvmecuse::emu {

/// The largest MDTS a configuration may give: the emulator's transfer limit
/// is 4096 << MDTS bytes (NVMe Base 2.0, Figure 275), which must fit 64 bits.
inline constexpr std::uint8_t max_mdts = 51;

/// One namespace of the emulated controller as it exists at start-up.
struct NamespaceConfig {
    std::uint32_t nsid = 1;             ///< 1..ControllerConfig::max_namespaces
    std::uint64_t size_bytes = 1ull << 30;  ///< capacity; NSZE = size_bytes / LBA data size
    std::uint32_t lba_data_size = 512;  ///< 512 or 4096 (must match a supported LBA format)
    std::uint16_t metadata_size = 0;    ///< 0, 8, 16 or 64 bytes per block
    bool extended_metadata = false;     ///< metadata interleaved with data (FLBAS bit 4)
    /// Empty: sparse RAM (costs nothing until written; all RAM namespaces
    /// together must fit in the machine's memory). Otherwise a file that
    /// holds the data (created sparse when missing); data survives restarts.
    std::string backing_file;
    bool attached = true;               ///< attached to the controller at start-up
};

/// Everything that makes the emulated controller look like a particular SSD.
/// A plain struct now; the daemon reads it from JSON.
struct ControllerConfig {
    std::string model = "nvmecuse Emulated NVMe SSD";  ///< Identify MN (40 chars max)
    std::string serial = "NVC0000000001";                ///< Identify SN (20 chars max)
    std::string firmware = "1.0.0";                      ///< FR of slot 1 (8 chars max)
    std::uint16_t vid = 0x1b36;                          ///< PCI vendor id
    std::uint16_t ssvid = 0x1af4;                        ///< PCI subsystem vendor id
    std::uint32_t ieee_oui = 0x525400;
    std::uint16_t cntlid = 1;
    /// Identify SUBNQN; empty = "nqn.2024-01.io.nvmecuse:emulated:<serial>",
    /// so controllers with different serials are different subsystems.
    std::string subnqn;
    /// Maximum Data Transfer Size as a power of two of 4 KiB pages (0 = unlimited),
    /// 0..max_mdts.
    std::uint8_t mdts = 8;  // 1 MiB
    /// Identify SGLS: SGLs supported without alignment (Data Block, Segment
    /// and Last Segment descriptors). In process the emulated controller
    /// gets its data as buffers; a front end that walks data pointers (the
    /// PCIe test double) honours it.
    bool sgls = false;
    std::uint32_t max_namespaces = 32;                   ///< Identify NN
    /// Identify TNVMCAP: what namespaces (at start and created by Namespace
    /// Management) may take together. 4 GiB: the default 1 GiB namespace
    /// and room to create more that a small machine can still hold in RAM.
    std::uint64_t total_capacity_bytes = 4ull << 30;
    std::uint16_t max_io_queues = 8;                     ///< granted by Number of Queues
    std::uint16_t max_queue_entries = 1024;              ///< CAP.MQES + 1
    std::uint8_t aerl = 3;                               ///< AERL: 4 AERs outstanding
    std::uint8_t firmware_slots = 3;                     ///< FRMW NOFS (1..7)
    bool slot1_read_only = false;                        ///< FRMW bit 0
    std::uint16_t temperature_kelvin = 313;              ///< composite temperature reported
    std::uint16_t warning_temperature_kelvin = 343;      ///< WCTEMP
    std::uint16_t critical_temperature_kelvin = 358;     ///< CCTEMP
    /// Extended self-test duration in minutes (EDSTT); the short test takes
    /// short_self_test_ms of wall-clock time, the extended one 4×.
    std::uint16_t extended_self_test_minutes = 10;
    std::uint32_t short_self_test_ms = 2000;
    std::vector<NamespaceConfig> namespaces{NamespaceConfig{}};

    /// The subsystem NQN reported: `subnqn`, or the one derived from `serial`.
    [[nodiscard]] std::string subsystem_nqn() const
    {
        return subnqn.empty() ? "nqn.2024-01.io.nvmecuse:emulated:" + serial : subnqn;
    }
};

} // namespace nvmecuse::emu
