// The whole-config checks of the emulated controller (config_check.hpp),
// with messages that name the JSON path, and the host-memory bound on RAM
// namespaces.
#include "nvmecuse/transport/emu/config_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <string_view>
#include <system_error>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

using Result = std::expected<void, std::string>;

/// Largest file or mapping NamespaceStorage can make (off_t).
constexpr std::uint64_t max_storage_bytes = std::numeric_limits<std::int64_t>::max();

/// "1073741824 bytes (1 GiB)": exact, and readable.
std::string bytes_text(std::uint64_t bytes)
{
    static constexpr std::array<std::string_view, 6> units{"KiB", "MiB", "GiB",
                                                           "TiB", "PiB", "EiB"};
    std::string text = std::to_string(bytes) + " bytes";
    if (bytes < 1024) return text;
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    for (value /= 1024; value >= 1024 && unit + 1 < units.size(); value /= 1024)
        ++unit;
    char shown[32];
    std::snprintf(shown, sizeof shown, "%.4g", value);
    return text + " (" + shown + " " + std::string(units[unit]) + ")";
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::uint64_t>::max() : sum;
}

Result fail(std::string message)
{
    return std::unexpected(std::move(message));
}

std::string ns_path(std::size_t index)
{
    return "$.namespaces[" + std::to_string(index) + "]";
}

Result check_strings(const ControllerConfig& c)
{
    const auto too_long = [](const char* key, std::size_t size, std::size_t max) {
        return fail(std::string("$.") + key + ": " + std::to_string(size) +
                    " bytes is too long (at most " + std::to_string(max) + ")");
    };
    if (c.model.empty()) return fail("$.model: must not be empty");
    if (c.model.size() > 40) return too_long("model", c.model.size(), 40);
    if (c.serial.empty()) return fail("$.serial: must not be empty");
    if (c.serial.size() > 20) return too_long("serial", c.serial.size(), 20);
    if (c.firmware.empty()) return fail("$.firmware: must not be empty");
    if (c.firmware.size() > 8) return too_long("firmware", c.firmware.size(), 8);
    if (c.subsystem_nqn().size() > 223) return too_long("subnqn", c.subsystem_nqn().size(), 223);
    return {};
}

Result check_limits(const ControllerConfig& c)
{
    const auto out_of_range = [](const char* key, std::uint64_t value, std::uint64_t min,
                                 std::uint64_t max) {
        return fail(std::string("$.") + key + ": " + std::to_string(value) + " is out of range (" +
                    std::to_string(min) + ".." + std::to_string(max) + ")");
    };
    if (c.mdts > max_mdts) return out_of_range("mdts", c.mdts, 0, max_mdts);
    if (c.max_namespaces == 0 || c.max_namespaces == nvme::nsid_all)
        return out_of_range("max_namespaces", c.max_namespaces, 1, nvme::nsid_all - 1);
    if (c.max_io_queues == 0)
        return out_of_range("max_io_queues", c.max_io_queues, 1,
                            std::numeric_limits<std::uint16_t>::max());
    if (c.max_queue_entries < 2)
        return out_of_range("max_queue_entries", c.max_queue_entries, 2,
                            std::numeric_limits<std::uint16_t>::max());
    if (c.firmware_slots < 1 || c.firmware_slots > 7)
        return out_of_range("firmware_slots", c.firmware_slots, 1, 7);
    if (c.total_capacity_bytes == 0) return fail("$.total_capacity_bytes: must not be 0");
    return {};
}

Result check_namespace(const ControllerConfig& c, std::size_t index)
{
    const NamespaceConfig& ns = c.namespaces[index];
    const std::string path = ns_path(index);
    if (ns.nsid < 1 || ns.nsid > c.max_namespaces)
        return fail(path + ".nsid: " + std::to_string(ns.nsid) + " is out of range (1.." +
                    std::to_string(c.max_namespaces) + ", the max_namespaces)");
    if (!EmulatedController::find_lba_format(ns.lba_data_size, ns.metadata_size)) {
        std::string formats;
        for (const auto& f : EmulatedController::lba_formats)
            formats += (formats.empty() ? "" : ", ") + std::to_string(f.lba_data_size()) + "+" +
                       std::to_string(f.ms);
        return fail(path + ": lba_data_size " + std::to_string(ns.lba_data_size) +
                    " with metadata_size " + std::to_string(ns.metadata_size) +
                    " is not a supported LBA format (data+metadata: " + formats + ")");
    }
    if (ns.size_bytes < ns.lba_data_size || ns.size_bytes % ns.lba_data_size != 0)
        return fail(path + ".size_bytes: " + std::to_string(ns.size_bytes) +
                    " is not a non-zero multiple of lba_data_size " +
                    std::to_string(ns.lba_data_size));
    const std::uint64_t blocks = ns.size_bytes / ns.lba_data_size;
    const std::uint64_t metadata = blocks * ns.metadata_size; // ≤ 2^55 × 64: no overflow
    if (ns.size_bytes > max_storage_bytes || metadata > max_storage_bytes - ns.size_bytes)
        return fail(path + ".size_bytes: " + std::to_string(ns.size_bytes) + " plus " +
                    std::to_string(metadata) + " bytes of metadata is larger than " +
                    std::to_string(max_storage_bytes) + ", the largest file or mapping");
    return {};
}

} // namespace

std::uint64_t host_memory_bytes() noexcept
{
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

std::uint64_t ram_bytes(const NamespaceConfig& ns) noexcept
{
    if (!ns.backing_file.empty() || ns.lba_data_size == 0) return 0;
    const std::uint64_t blocks = ns.size_bytes / ns.lba_data_size;
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(blocks, std::uint64_t{ns.lba_data_size} + ns.metadata_size, &bytes))
        return std::numeric_limits<std::uint64_t>::max();
    return bytes;
}

std::expected<void, std::string> check_controller_config(const ControllerConfig& config,
                                                         std::uint64_t memory_bytes)
{
    if (auto r = check_strings(config); !r) return r;
    if (auto r = check_limits(config); !r) return r;
    std::set<std::uint32_t> seen;
    std::uint64_t capacity = 0;
    for (std::size_t i = 0; i < config.namespaces.size(); ++i) {
        const NamespaceConfig& ns = config.namespaces[i];
        if (auto r = check_namespace(config, i); !r) return r;
        if (!seen.insert(ns.nsid).second)
            return fail(ns_path(i) + ".nsid: " + std::to_string(ns.nsid) + " is given twice");
        if (ns.size_bytes > config.total_capacity_bytes - capacity)
            return fail(ns_path(i) + ".size_bytes: the namespaces take more than " +
                        "total_capacity_bytes " + std::to_string(config.total_capacity_bytes));
        capacity += ns.size_bytes;
    }
    std::uint64_t ram = 0;
    for (std::size_t i = 0; i < config.namespaces.size(); ++i) {
        const std::uint64_t need = ram_bytes(config.namespaces[i]);
        if (need == 0) continue;
        if (need > memory_bytes || ram > memory_bytes - need)
            return fail(ns_path(i) + ".size_bytes: RAM namespace " +
                        std::to_string(config.namespaces[i].nsid) + " needs " + bytes_text(need) +
                        " of data and metadata, and the RAM namespaces up to it " +
                        bytes_text(saturating_add(ram, need)) + ", more than the " +
                        bytes_text(memory_bytes) +
                        " of memory this machine has; make it smaller or give it a "
                        "backing_file");
        ram += need;
    }
    return {};
}

std::expected<void, std::string> check_backing_directories(const ControllerConfig& config)
{
    for (std::size_t i = 0; i < config.namespaces.size(); ++i) {
        const std::string& file = config.namespaces[i].backing_file;
        if (file.empty()) continue;
        std::string directory = std::filesystem::path(file).parent_path().string();
        if (directory.empty()) directory = ".";
        const std::string path = ns_path(i) + ".backing_file: directory " + directory;
        struct stat st {};
        if (::stat(directory.c_str(), &st) != 0) {
            if (errno == ENOENT)
                return fail(path + " does not exist (create it, e.g. mkdir -p " + directory + ")");
            return fail(path + ": " + std::system_category().message(errno));
        }
        if (!S_ISDIR(st.st_mode)) return fail(path + " is not a directory");
    }
    return {};
}

} // namespace nvmecuse::emu
