// Bounds the driver core puts on what a device reports, so that a hostile or
// broken controller cannot make it loop, allocate or shift without bound
// (issue 21). Each bound is documented with the reason for its value.
#pragma once

#include <cstdint>

#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::ctrlr {

/// Namespaces one scan accepts at most, from the Active Namespace List
/// (CNS 02h) or from the sequential probe of nsids 1..NN that replaces it
/// when it fails. Linux has no such cap: its sequential scan walks 1..NN
/// with one Identify each and stores nothing until a namespace answers
/// (nvme_scan_ns_sequential()), and its list scan reads pages until an
/// entry is 0 (nvme_scan_ns_list()). nvmecuse collects the nsids first and
/// serves a CUSE node per namespace, so NN = FFFFFFFFh would mean 2^32
/// Identify commands and a 16 GiB vector. 4096 is four list pages and four
/// times what Linux's nvmet target serves per subsystem
/// (NVMET_MAX_NAMESPACES, 1024); a scan that reaches it says so in the log.
inline constexpr std::uint32_t max_scanned_namespaces = 4096;

/// LBA data sizes a namespace may have to get a capacity: at least one
/// 512-byte sector and at most the 4 KiB page of x86-64, as Linux's block
/// layer requires (nvme_update_disk_info(): lba_shift < SECTOR_SHIFT or
/// > PAGE_SHIFT gives capacity 0). Such a namespace stays visible, with
/// capacity 0 and NamespaceInfo::unusable_reason saying why.
inline constexpr std::uint32_t min_lba_data_size = 512;
inline constexpr std::uint32_t max_lba_data_size = 4096;

/// The largest data transfer of one command nvmecuse uses, whatever MDTS
/// says: the 32 MiB the CUSE layer already splits SUBMIT_IO up to. Linux
/// likewise bounds the MDTS-derived max_hw_sectors by its transport's own
/// maximum (min_not_zero() with, for PCIe, NVME_MAX_KB_SZ).
inline constexpr std::uint64_t max_transfer_limit = std::uint64_t{32} << 20;

/// The Maximum Data Transfer Size of a controller in bytes: 2^MDTS units of
/// the minimum memory page size 2^(12 + CAP.MPSMIN) (NVMe Base 2.0,
/// 5.17.2.1, Figure 275 MDTS), clamped to max_transfer_limit without ever
/// shifting past 63 bits (Linux nvme_mps_to_sectors() saturates the same
/// way). 0 when MDTS is 0: no limit reported, callers keep their defaults.
/// Pure; any thread.
[[nodiscard]] std::uint64_t max_transfer_bytes(const nvme::IdentifyController& id,
                                               std::uint64_t cap) noexcept;

} // namespace nvmecuse::ctrlr
