// Handing a PCI function to vfio-pci and back through sysfs, as SPDK's
// scripts/setup.sh does, with its safety checks: nothing of the function's
// namespaces mounted, swapped on or held, and an IOMMU group that can go
// to userspace whole (Documentation/driver-api/vfio.rst, "Groups").
#include "nvmecuse/transport/pcie/pci_binding.hpp"

#include "nvmecuse/errno.hpp"
#include "nvmecuse/transport/transport_id.hpp"
#include "nvmecuse/transport/unique_fd.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

extern char** environ;

namespace nvmecuse::transport::pcie {

namespace {

namespace fs = std::filesystem;

fs::path device_dir(const PciHost& host, const std::string& bdf)
{
    return host.sysfs / "bus/pci/devices" / bdf;
}

fs::path driver_dir(const PciHost& host, const std::string& driver)
{
    return host.sysfs / "bus/pci/drivers" / driver;
}

/// The driver a sysfs device directory links to; empty when none.
std::string driver_at(const fs::path& dev)
{
    std::error_code ec;
    const auto link = fs::read_symlink(dev / "driver", ec);
    return ec ? std::string() : link.filename().string();
}

/// Whether `name` is a namespace block device's: nvme<digits>n<digits>.
bool is_namespace_disk(std::string_view name)
{
    auto digits = [&name]() {
        const auto n = name.find_first_not_of("0123456789");
        const auto taken = n == std::string_view::npos ? name.size() : n;
        name.remove_prefix(taken);
        return taken != 0;
    };
    if (!name.starts_with("nvme")) return false;
    name.remove_prefix(4);
    if (!digits() || !name.starts_with('n')) return false;
    name.remove_prefix(1);
    return digits() && name.empty();
}

std::vector<std::string> entries_of(const fs::path& dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

/// The disk and its partitions (the subdirectories of /sys/block/DISK that
/// have a "partition" attribute).
std::vector<std::string> disk_and_partitions(const PciHost& host, const std::string& disk)
{
    std::vector<std::string> out{disk};
    for (const auto& name : entries_of(host.sysfs / "block" / disk)) {
        std::error_code ec;
        if (name.starts_with(disk) && fs::exists(host.sysfs / "block" / disk / name / "partition", ec))
            out.push_back(name);
    }
    return out;
}

fs::path block_dir(const PciHost& host, const std::string& disk, const std::string& name)
{
    return name == disk ? host.sysfs / "block" / disk : host.sysfs / "block" / disk / name;
}

/// The first two fields of each line of a table like /proc/self/mounts or
/// /proc/swaps, from line `first` on.
std::vector<std::pair<std::string, std::string>> table_of(const fs::path& path, int first)
{
    std::vector<std::pair<std::string, std::string>> rows;
    std::ifstream in(path);
    std::string line;
    for (int n = 0; std::getline(in, line); ++n) {
        if (n < first) continue;
        std::istringstream fields(line);
        std::string a, b;
        if (fields >> a) {
            fields >> b;
            rows.emplace_back(a, b);
        }
    }
    return rows;
}

/// The block device name a /dev path names ("/dev/nvme0n1p1": nvme0n1p1).
std::string dev_name(const std::string& path)
{
    return path.starts_with("/dev/") ? path.substr(5) : std::string();
}

void add_block_obstacles(const PciHost& host, const std::string& bdf, std::vector<std::string>& out)
{
    const auto mounts = table_of(host.mounts, 0);
    const auto swaps = table_of(host.swaps, 1);
    for (const auto& disk : namespace_disks_of(host, bdf)) {
        for (const auto& name : disk_and_partitions(host, disk)) {
            for (const auto& [source, target] : mounts)
                if (dev_name(source) == name)
                    out.push_back(bdf + ": /dev/" + name + " is mounted on " + target + "; unmount it first");
            for (const auto& [file, type] : swaps)
                if (dev_name(file) == name)
                    out.push_back(bdf + ": /dev/" + name + " is active swap; swapoff /dev/" + name + " first");
            for (const auto& holder : entries_of(block_dir(host, disk, name) / "holders"))
                out.push_back(bdf + ": /dev/" + name + " is held by " + holder +
                              " (device-mapper, md or LVM); stop that first");
        }
    }
}

void add_group_obstacles(const PciHost& host, const std::string& bdf, std::vector<std::string>& out)
{
    const auto dev = device_dir(host, bdf);
    std::error_code ec;
    const auto group = fs::read_symlink(dev / "iommu_group", ec);
    if (ec) {
        out.push_back(bdf + ": no IOMMU group, so vfio-pci cannot take it (boot with intel_iommu=on or "
                            "amd_iommu=on)");
        return;
    }
    for (const auto& other : entries_of(dev / "iommu_group/devices")) {
        if (other == bdf) continue;
        const auto driver = driver_at(dev / "iommu_group/devices" / other);
        if (driver.empty() || driver == "vfio-pci" || driver == "pci-stub" || driver == "pcieport") continue;
        out.push_back(bdf + ": IOMMU group " + group.filename().string() + " also holds " + other +
                      ", bound to " + driver + "; a group goes to vfio-pci whole (bind " + other +
                      " first)");
    }
}

std::error_code write_attribute(const fs::path& path, std::string_view value)
{
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return last_errno();
    const auto n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) return last_errno();
    if (static_cast<std::size_t>(n) != value.size()) return std::make_error_code(std::errc::io_error);
    return {};
}

bool modprobe(const std::string& module)
{
    std::string program = "modprobe";
    std::string name = module;
    char* argv[] = {program.data(), name.data(), nullptr};
    pid_t pid = 0;
    if (::posix_spawnp(&pid, "modprobe", nullptr, nullptr, argv, environ) != 0) return false;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// `host` with the default writer and module loader where it has none.
PciHost with_defaults(PciHost host)
{
    if (!host.write) host.write = write_attribute;
    if (!host.load_module) host.load_module = modprobe;
    return host;
}

BindingError failure(std::errc code, std::string line)
{
    return BindingError{std::make_error_code(code), {std::move(line)}};
}

/// Writes `value` to `path`; a failure is a line naming the attribute.
std::optional<BindingError> write(const PciHost& host, const fs::path& path, std::string_view value,
                                  const std::string& bdf)
{
    const auto ec = host.write(path, value);
    if (!ec) return std::nullopt;
    return BindingError{ec, {bdf + ": writing " + path.string() + ": " + ec.message()}};
}

/// Sets the function's driver_override (`value`; "\n" clears it), then
/// unbinds it from its driver when it has one (`driver` not empty).
std::optional<BindingError> override_and_unbind(const PciHost& host, const std::string& bdf, std::string_view value,
                                                const std::string& driver)
{
    const auto dev = device_dir(host, bdf);
    if (auto e = write(host, dev / "driver_override", value, bdf)) return e;
    if (driver.empty()) return std::nullopt;
    return write(host, dev / "driver/unbind", bdf, bdf);
}

/// The normalized address of an existing function, or the refusal.
std::expected<std::string, BindingError> existing_function(const PciHost& host, std::string_view text)
{
    const auto bdf = normalize_bdf(text);
    if (bdf.empty())
        return std::unexpected(failure(std::errc::invalid_argument,
                                       "'" + std::string(text) + "' is not a PCI address (0000:00:04.0)"));
    std::error_code ec;
    if (!fs::exists(device_dir(host, bdf), ec))
        return std::unexpected(failure(std::errc::no_such_device, bdf + ": no such PCI function"));
    return bdf;
}

/// Loads `module` unless the driver directory `driver` is there already.
std::optional<BindingError> ensure_driver(const PciHost& host, const std::string& driver, const std::string& module)
{
    std::error_code ec;
    if (fs::exists(driver_dir(host, driver), ec)) return std::nullopt;
    if (host.load_module(module) && fs::exists(driver_dir(host, driver), ec)) return std::nullopt;
    return failure(std::errc::no_such_device, "the " + driver + " driver is not there (modprobe " + module +
                                                  " failed)");
}

std::optional<std::string> recorded_driver(const PciHost& host, const std::string& bdf)
{
    std::ifstream in(host.records / bdf);
    if (!in) return std::nullopt;
    std::string driver;
    std::getline(in, driver);
    return driver;
}

std::optional<BindingError> record_driver(const PciHost& host, const std::string& bdf, const std::string& driver)
{
    std::error_code ec;
    fs::create_directories(host.records, ec);
    std::ofstream out(host.records / bdf, std::ios::trunc);
    out << driver << '\n';
    out.close();
    if (ec || !out)
        return failure(std::errc::io_error, bdf + ": cannot record its driver in " + (host.records / bdf).string());
    return std::nullopt;
}

std::string driver_name(const std::string& driver)
{
    return driver.empty() ? "no driver" : driver;
}

} // namespace

std::string driver_of(const PciHost& host, const std::string& bdf)
{
    return driver_at(device_dir(host, bdf));
}

std::vector<std::string> namespace_disks_of(const PciHost& host, const std::string& bdf)
{
    std::set<std::string> disks;
    auto add_disks_in = [&disks](const fs::path& dir) {
        for (const auto& name : entries_of(dir))
            if (is_namespace_disk(name)) disks.insert(name);
    };
    const auto subsystems = entries_of(host.sysfs / "class/nvme-subsystem");
    for (const auto& ctrl : entries_of(device_dir(host, bdf) / "nvme")) {
        add_disks_in(device_dir(host, bdf) / "nvme" / ctrl);
        for (const auto& subsys : subsystems) {
            const auto dir = host.sysfs / "class/nvme-subsystem" / subsys;
            std::error_code ec;
            if (fs::exists(dir / ctrl, ec)) add_disks_in(dir);
        }
    }
    return {disks.begin(), disks.end()};
}

std::vector<std::string> bind_obstacles(const PciHost& host, const std::string& bdf)
{
    std::vector<std::string> out;
    add_block_obstacles(host, bdf, out);
    add_group_obstacles(host, bdf, out);
    return out;
}

std::vector<std::string> group_users(const PciHost& host, const std::string& bdf)
{
    std::error_code ec;
    const auto group = fs::read_symlink(device_dir(host, bdf) / "iommu_group", ec);
    if (ec) return {};
    const fs::path node = fs::path("/dev/vfio") / group.filename();
    std::vector<std::string> users;
    for (const auto& pid : entries_of(host.proc)) {
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        for (const auto& fd : entries_of(host.proc / pid / "fd")) {
            if (fs::read_symlink(host.proc / pid / "fd" / fd, ec) != node || ec) continue;
            std::string comm;
            std::getline(std::ifstream(host.proc / pid / "comm"), comm);
            users.push_back(comm + " (pid " + pid + ")");
            break;
        }
    }
    return users;
}

std::expected<std::string, BindingError> bind_to_vfio(const PciHost& given, std::string_view text)
{
    const auto host = with_defaults(given);
    const auto bdf = existing_function(host, text);
    if (!bdf) return std::unexpected(bdf.error());
    const auto driver = driver_of(host, *bdf);
    if (driver == "vfio-pci") return *bdf + ": already bound to vfio-pci";
    if (auto lines = bind_obstacles(host, *bdf); !lines.empty())
        return std::unexpected(BindingError{std::make_error_code(std::errc::device_or_resource_busy), lines});
    if (auto e = ensure_driver(host, "vfio-pci", "vfio-pci")) return std::unexpected(*e);
    std::error_code ec;
    if (!fs::exists(host.sysfs / "module/vfio_iommu_type1", ec) && !host.load_module("vfio_iommu_type1"))
        return std::unexpected(failure(std::errc::no_such_device, "modprobe vfio_iommu_type1 failed"));
    if (auto e = record_driver(host, *bdf, driver)) return std::unexpected(*e);

    if (auto e = override_and_unbind(host, *bdf, "vfio-pci", driver)) return std::unexpected(*e);
    // The probe's own status says little (no driver taking it is not an
    // error to the kernel): the driver link after it is the answer.
    (void)host.write(host.sysfs / "bus/pci/drivers_probe", *bdf);
    const auto now = driver_of(host, *bdf);
    if (now == "vfio-pci")
        return *bdf + ": bound to vfio-pci (was " + driver_name(driver) + "; nvmecusectl give-back " + *bdf +
               " returns it)";
    auto back = give_back(host, *bdf);
    return std::unexpected(failure(
        std::errc::device_or_resource_busy,
        *bdf + ": vfio-pci did not take it (see dmesg); " +
            (back ? "back with " + driver_name(driver_of(host, *bdf)) : "and giving it back failed too")));
}

std::expected<std::string, BindingError> give_back(const PciHost& given, std::string_view text)
{
    const auto host = with_defaults(given);
    const auto bdf = existing_function(host, text);
    if (!bdf) return std::unexpected(bdf.error());
    const auto recorded = recorded_driver(host, *bdf);
    const auto driver = driver_of(host, *bdf);
    std::error_code ec;
    if (!driver.empty() && driver != "vfio-pci") {
        fs::remove(host.records / *bdf, ec);
        return *bdf + ": already bound to " + driver + ", not vfio-pci; nothing to give back";
    }
    if (driver == "vfio-pci") {
        std::vector<std::string> lines;
        for (const auto& user : group_users(host, *bdf))
            lines.push_back(*bdf + ": its VFIO group is open in " + user +
                            "; detach it there first (nvmecusectl detach NAME) or stop that process");
        if (!lines.empty())
            return std::unexpected(BindingError{std::make_error_code(std::errc::device_or_resource_busy), lines});
    }
    if (auto e = override_and_unbind(host, *bdf, "\n", driver)) return std::unexpected(*e);
    std::string done;
    if (!recorded) {
        (void)host.write(host.sysfs / "bus/pci/drivers_probe", *bdf);
        const auto now = driver_of(host, *bdf);
        done = *bdf + ": no record of the driver it came from; the kernel gave it to " + driver_name(now);
    } else if (recorded->empty()) {
        done = *bdf + ": given back to no driver, as it came";
    } else {
        if (auto e = ensure_driver(host, *recorded, *recorded)) return std::unexpected(*e);
        // Loading the driver may have bound it already.
        if (driver_of(host, *bdf) != *recorded) {
            if (auto e = write(host, driver_dir(host, *recorded) / "bind", *bdf, *bdf)) return std::unexpected(*e);
        }
        const auto now = driver_of(host, *bdf);
        if (now != *recorded)
            return std::unexpected(failure(std::errc::device_or_resource_busy,
                                           *bdf + ": " + *recorded + " did not take it back (now with " +
                                               driver_name(now) + "; see dmesg)"));
        done = *bdf + ": given back to " + *recorded + " (from " + driver_name(driver) + ")";
    }
    fs::remove(host.records / *bdf, ec);
    return done;
}

} // namespace nvmecuse::transport::pcie
