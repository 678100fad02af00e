// Whether a ControllerConfig describes an emulated controller that can be
// built on this machine. The JSON parser checks only the shape of a file;
// these are the checks that need the whole config (and the host's memory).
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "nvmecuse/transport/emu/config.hpp"

namespace nvmecuse::emu {

/// Physical memory of this machine in bytes: sysconf(_SC_PHYS_PAGES) ×
/// the page size, the MemTotal of /proc/meminfo. Any thread.
[[nodiscard]] std::uint64_t host_memory_bytes() noexcept;

/// Bytes of memory a namespace takes once every block is written: its data
/// plus its metadata (NSZE × (LBA data size + metadata size)); 0 when it is
/// file backed. Saturates at UINT64_MAX instead of overflowing. Pure.
[[nodiscard]] std::uint64_t ram_bytes(const NamespaceConfig& ns) noexcept;

/// Checks everything the emulated controller needs of `config`:
/// - the Identify strings fit (MN 40, SN 20, FR 8, SUBNQN 223 bytes);
/// - mdts ≤ max_mdts (the transfer limit 4096 << MDTS must fit 64 bits);
/// - max_namespaces is 1..FFFFFFFEh, max_io_queues ≥ 1, max_queue_entries
///   ≥ 2, firmware_slots 1..7, total_capacity_bytes ≥ 1;
/// - each namespace: nsid in 1..max_namespaces and unique, (lba_data_size,
///   metadata_size) one of the supported LBA formats, size_bytes a
///   non-zero multiple of lba_data_size, data + metadata within the largest
///   file or mapping (2^63 - 1 bytes), and the sizes within
///   total_capacity_bytes together;
/// - RAM-backed namespaces (no backing_file) together hold no more data +
///   metadata than `memory_bytes` (pass host_memory_bytes()): sparse
///   memory that is promised but cannot be had would end in the OOM killer
///   once the host writes it.
/// Error: one line naming the JSON path of the offending field, as
/// parse_controller_config() does ("$.namespaces[1].size_bytes: ..."); the
/// memory error names the namespace, the bytes it needs, the RAM
/// namespaces' total and `memory_bytes`. Pure; any thread.
[[nodiscard]] std::expected<void, std::string>
check_controller_config(const ControllerConfig& config, std::uint64_t memory_bytes);

/// Checks that the directory of every backing_file exists (the file itself
/// is created when missing, its directory never is).
/// Error: "$.namespaces[2].backing_file: directory /var/lib/nvmecuse does
/// not exist (create it, e.g. mkdir -p /var/lib/nvmecuse)", or "... is not a
/// directory", or the errno text of stat(2). Reads the file system; any thread.
[[nodiscard]] std::expected<void, std::string>
check_backing_directories(const ControllerConfig& config);

} // namespace nvmecuse::emu
