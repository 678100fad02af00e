#pragma once

#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

/// Which kernel driver holds a PCI function, and handing it to vfio-pci and
/// back, through sysfs (Documentation/ABI/testing/sysfs-bus-pci:
/// driver_override, unbind, drivers_probe, bind), as SPDK's
/// scripts/setup.sh does. Every path is a parameter, so that the tests run
/// it on a fake tree. Blocking; any thread; not concurrently with another
/// bind or give-back of the same function.
namespace nvmecuse::transport::pcie {

/// What the binding code reads and writes.
struct PciHost {
    /// The sysfs mount.
    std::filesystem::path sysfs = "/sys";
    /// The mount table (fstab format: the mounted device first).
    std::filesystem::path mounts = "/proc/self/mounts";
    /// The active swap areas (a header line, then the device first).
    std::filesystem::path swaps = "/proc/swaps";
    /// procfs, whose <pid>/fd links say who holds a VFIO group open.
    std::filesystem::path proc = "/proc";
    /// Where bind records the driver each function came from (a file per
    /// function, named by its address, holding the driver's name).
    std::filesystem::path records = "/run/nvmecuse/bound";
    /// Writes `value` to the sysfs attribute `path` (one write(2), as echo
    /// does); the errno of a refused write. Default: open(2) and write(2).
    std::function<std::error_code(const std::filesystem::path& path, std::string_view value)> write;
    /// Loads a kernel module ("vfio-pci"); false when that failed.
    /// Default: modprobe.
    std::function<bool(const std::string& module)> load_module;
};

/// The kernel driver bound to the function `bdf` (normalized,
/// "0000:00:04.0"): "nvme", "vfio-pci"; empty when none.
[[nodiscard]] std::string driver_of(const PciHost& host, const std::string& bdf);

/// The namespace block devices the kernel's nvme driver has on the
/// function ("nvme0n1"): in its controller's directory, or with native
/// multipath the namespace heads of the NVM subsystem holding that
/// controller (which then has only hidden paths, nvme0c0n1).
[[nodiscard]] std::vector<std::string> namespace_disks_of(const PciHost& host, const std::string& bdf);

/// Why the function cannot be taken from its driver without harm, one line
/// each (empty: nothing in the way): a namespace or partition of it that
/// is mounted, is active swap, or has a holder (device-mapper, md, LVM);
/// no IOMMU group; another device of its IOMMU group bound to a driver
/// other than vfio-pci, pci-stub or pcieport (a bridge without a driver is
/// fine).
[[nodiscard]] std::vector<std::string> bind_obstacles(const PciHost& host, const std::string& bdf);

/// A refusal or failure: one line for the user each.
struct BindingError {
    std::error_code code;
    std::vector<std::string> lines;
};

/// Hands the function `bdf` ("0000:00:04.0" or "00:04.0") to vfio-pci:
/// refuses while bind_obstacles() finds anything; loads vfio-pci (and the
/// type1 IOMMU) when absent; records the driver it came from under
/// host.records; sets driver_override, unbinds, probes. A function already
/// bound to vfio-pci is left as it is. Returns what it did, one line.
[[nodiscard]] std::expected<std::string, BindingError> bind_to_vfio(const PciHost& host, std::string_view bdf);

/// The processes that hold the function's VFIO group (/dev/vfio/N) open,
/// as "nvmecused (pid 812)"; empty when none or it has no group.
[[nodiscard]] std::vector<std::string> group_users(const PciHost& host, const std::string& bdf);

/// Returns the function `bdf` to the driver bind_to_vfio() recorded:
/// refuses while a process holds its VFIO group open (unbinding would
/// take the device from under it); clears driver_override, unbinds it
/// from vfio-pci, binds it to that driver (loading it when absent), or
/// lets the kernel probe one when there is no record, and removes the
/// record. A function already on a driver other than vfio-pci is left
/// there. Returns what it did, one line.
[[nodiscard]] std::expected<std::string, BindingError> give_back(const PciHost& host, std::string_view bdf);

} // namespace nvmecuse::transport::pcie
