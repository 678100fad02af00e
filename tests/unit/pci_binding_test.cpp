// Handing a PCI function to vfio-pci and back (transport/pcie/pci_binding)
// on a fake sysfs tree in a temporary directory, whose attribute writes a
// small model of the kernel answers: driver_override, unbind,
// drivers_probe and bind move the function's driver link as Linux 6.1
// does (drivers/base/bus.c, drivers/pci/pci-driver.c).
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nvmecuse/transport/pcie/pci_binding.hpp"

namespace {

namespace fs = std::filesystem;
using namespace nvmecuse::transport::pcie;

constexpr const char* ssd = "0000:00:04.0";

std::string read_file(const fs::path& p)
{
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& text)
{
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

class FakeSysfs {
public:
    FakeSysfs()
    {
        std::string t = testing::TempDir() + "pci_binding.XXXXXX";
        root_ = ::mkdtemp(t.data());
        for (const char* d : {"sys/bus/pci/drivers/nvme", "sys/bus/pci/drivers/vfio-pci", "sys/bus/pci/drivers/pcieport",
                              "sys/bus/pci/drivers/snd_hda_intel", "sys/bus/pci/devices", "sys/module/vfio_iommu_type1",
                              "sys/class/nvme-subsystem", "sys/block", "proc"})
            fs::create_directories(root_ / d);
        write_file(root_ / "sys/bus/pci/drivers_probe", "");
        write_file(root_ / "proc/mounts", "sysfs /sys sysfs rw 0 0\n/dev/sda1 / ext4 rw 0 0\n");
        write_file(root_ / "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    }
    ~FakeSysfs() { fs::remove_all(root_); }
    FakeSysfs(const FakeSysfs&) = delete;
    FakeSysfs& operator=(const FakeSysfs&) = delete;

    fs::path sys() const { return root_ / "sys"; }
    fs::path device(const std::string& bdf) const { return sys() / "bus/pci/devices" / bdf; }
    fs::path records() const { return root_ / "run/nvmecuse/bound"; }

    /// A function bound to `driver` ("" none), which the kernel's probe
    /// hands to `matches` when no driver_override says otherwise, in IOMMU
    /// group `group` (-1: none).
    void add_function(const std::string& bdf, const std::string& driver, int group, const std::string& matches = "nvme")
    {
        fs::create_directories(device(bdf));
        write_file(device(bdf) / "driver_override", "(null)\n");
        matches_[bdf] = matches;
        if (!driver.empty()) link_driver(bdf, driver);
        if (group < 0) return;
        const auto g = sys() / "kernel/iommu_groups" / std::to_string(group);
        fs::create_directories(g / "devices");
        fs::create_directory_symlink(device(bdf), g / "devices" / bdf);
        fs::create_directory_symlink(g, device(bdf) / "iommu_group");
    }

    /// The nvme driver's controller `ctrl` on `bdf` with namespace disks.
    void add_controller(const std::string& bdf, const std::string& ctrl, const std::vector<std::string>& disks)
    {
        for (const auto& disk : disks) {
            fs::create_directories(device(bdf) / "nvme" / ctrl / disk);
            fs::create_directories(sys() / "block" / disk / "holders");
        }
        fs::create_directories(device(bdf) / "nvme" / ctrl);
    }

    void add_partition(const std::string& disk, const std::string& part)
    {
        fs::create_directories(sys() / "block" / disk / part / "holders");
        write_file(sys() / "block" / disk / part / "partition", "1\n");
    }

    void add_holder(const fs::path& block_dir, const std::string& holder)
    {
        fs::create_directories(sys() / "block" / block_dir / "holders" / holder);
    }

    void mount(const std::string& dev, const std::string& target)
    {
        std::ofstream(root_ / "proc/mounts", std::ios::app) << dev << ' ' << target << " ext4 rw,relatime 0 0\n";
    }

    void swap_on(const std::string& dev)
    {
        std::ofstream(root_ / "proc/swaps", std::ios::app) << dev << "\tpartition\t1048572\t0\t-2\n";
    }

    /// Process `pid` (named `comm`) holds `target` open as descriptor 7.
    void open_in(int pid, const std::string& comm, const std::string& target)
    {
        const auto dir = root_ / "proc" / std::to_string(pid);
        fs::create_directories(dir / "fd");
        write_file(dir / "comm", comm + "\n");
        fs::create_symlink("/dev/null", dir / "fd/0");
        fs::create_symlink(target, dir / "fd/7");
    }

    void unload(const std::string& driver) { fs::remove_all(sys() / "bus/pci/drivers" / driver); }

    PciHost host()
    {
        PciHost h;
        h.sysfs = sys();
        h.mounts = root_ / "proc/mounts";
        h.swaps = root_ / "proc/swaps";
        h.proc = root_ / "proc";
        h.records = records();
        h.write = [this](const fs::path& path, std::string_view value) { return kernel_write(path, std::string(value)); };
        h.load_module = [this](const std::string& module) { return load(module); };
        return h;
    }

    std::string driver(const std::string& bdf) const
    {
        std::error_code ec;
        return fs::read_symlink(device(bdf) / "driver", ec).filename().string();
    }

    std::vector<std::string> writes;  ///< "attribute=value", the path from sys/
    std::vector<std::string> loaded;  ///< modules, in order
    bool vfio_probe_fails = false;     ///< vfio-pci's probe refuses every function
    std::set<std::string> unloadable; ///< modules modprobe cannot find

private:
    void link_driver(const std::string& bdf, const std::string& driver)
    {
        fs::create_directory_symlink(sys() / "bus/pci/drivers" / driver, device(bdf) / "driver");
    }

    std::string override_of(const std::string& bdf) const
    {
        auto o = read_file(device(bdf) / "driver_override");
        o.erase(o.find_last_not_of('\n') + 1);
        return o == "(null)" ? std::string() : o;
    }

    /// drivers/base/dd.c: device_attach(), or a driver's bind attribute
    /// (`only`), through the bus's match, which driver_override decides
    /// when set (pci_match_device()); a bind by hand takes any driver.
    bool probe(const std::string& bdf, const std::string& only = "")
    {
        if (!driver(bdf).empty()) return false;
        const auto o = override_of(bdf);
        const auto target = !only.empty() ? only : !o.empty() ? o : matches_[bdf];
        if (!o.empty() && target != o) return false;
        if (!fs::exists(sys() / "bus/pci/drivers" / target)) return false;
        if (target == "vfio-pci" && vfio_probe_fails) return false;
        link_driver(bdf, target);
        return true;
    }

    std::error_code kernel_write(const fs::path& path, const std::string& value)
    {
        const auto rel = path.lexically_relative(sys()).string();
        writes.push_back(rel + "=" + (value == "\n" ? "\\n" : value));
        const auto name = path.filename().string();
        if (name == "driver_override") {
            write_file(path, value == "\n" || value.empty() ? "(null)\n" : value + "\n");
            return {};
        }
        if (name == "unbind") {
            const auto bdf = path.parent_path().parent_path().filename().string();
            if (driver(bdf).empty() || !fs::exists(device(bdf))) return std::make_error_code(std::errc::no_such_device);
            fs::remove(device(bdf) / "driver");
            fs::remove_all(device(bdf) / "nvme");
            return {};
        }
        if (rel == "bus/pci/drivers_probe") {
            if (!fs::exists(device(value))) return std::make_error_code(std::errc::no_such_device);
            probe(value);
            return {};
        }
        if (name == "bind") {
            const auto target = path.parent_path().filename().string();
            if (!driver(value).empty()) return std::make_error_code(std::errc::device_or_resource_busy);
            if (!probe(value, target)) return std::make_error_code(std::errc::no_such_device);
            return {};
        }
        return std::make_error_code(std::errc::permission_denied);
    }

    /// modprobe: the driver's directory appears, and a PCI driver probes
    /// every function without one that it matches.
    bool load(const std::string& module)
    {
        loaded.push_back(module);
        if (unloadable.contains(module)) return false;
        if (module == "vfio_iommu_type1") {
            fs::create_directories(sys() / "module" / module);
            return true;
        }
        fs::create_directories(sys() / "bus/pci/drivers" / module);
        for (const auto& [bdf, matches] : matches_)
            if (matches == module && override_of(bdf).empty()) probe(bdf);
        return true;
    }

    fs::path root_;
    std::map<std::string, std::string> matches_;
};

std::string joined(const std::vector<std::string>& lines)
{
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

class PciBinding : public testing::Test {
protected:
    PciBinding()
    {
        sysfs.add_function(ssd, "nvme", 3);
        sysfs.add_controller(ssd, "nvme0", {"nvme0n1"});
    }
    FakeSysfs sysfs;
};

TEST_F(PciBinding, BindMovesTheFunctionToVfioPciAndRecordsItsDriver)
{
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:04.0: bound to vfio-pci (was nvme; nvmecusectl give-back 0000:00:04.0 returns it)");
    EXPECT_EQ(sysfs.driver(ssd), "vfio-pci");
    EXPECT_EQ(read_file(sysfs.records() / ssd), "nvme\n");
    EXPECT_EQ(sysfs.writes, (std::vector<std::string>{"bus/pci/devices/0000:00:04.0/driver_override=vfio-pci",
                                                      "bus/pci/devices/0000:00:04.0/driver/unbind=0000:00:04.0",
                                                      "bus/pci/drivers_probe=0000:00:04.0"}));
    EXPECT_TRUE(sysfs.loaded.empty());
}

TEST_F(PciBinding, BindTakesTheShortAddressForm)
{
    const auto r = bind_to_vfio(sysfs.host(), "00:04.0");
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(sysfs.driver(ssd), "vfio-pci");
}

TEST_F(PciBinding, BindLoadsVfioPciAndTheType1IommuWhenAbsent)
{
    sysfs.unload("vfio-pci");
    fs::remove_all(sysfs.sys() / "module/vfio_iommu_type1");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(sysfs.loaded, (std::vector<std::string>{"vfio-pci", "vfio_iommu_type1"}));
    EXPECT_EQ(sysfs.driver(ssd), "vfio-pci");
}

TEST_F(PciBinding, BindFailsClearlyWhenVfioPciCannotBeLoaded)
{
    sysfs.unload("vfio-pci");
    sysfs.unloadable.insert("vfio-pci");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "the vfio-pci driver is not there (modprobe vfio-pci failed)\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
    EXPECT_TRUE(sysfs.writes.empty());
}

TEST_F(PciBinding, BindOfAFunctionOnVfioPciSaysSoAndTouchesNothing)
{
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), ssd));
    sysfs.writes.clear();
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:04.0: already bound to vfio-pci");
    EXPECT_TRUE(sysfs.writes.empty());
    EXPECT_EQ(read_file(sysfs.records() / ssd), "nvme\n") << "the first bind's record stays";
}

TEST_F(PciBinding, BindRefusesWhatIsNotAPciAddressOrNotThere)
{
    auto r = bind_to_vfio(sysfs.host(), "0000:00:04");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::invalid_argument);
    EXPECT_EQ(joined(r.error().lines), "'0000:00:04' is not a PCI address (0000:00:04.0)\n");
    r = bind_to_vfio(sysfs.host(), "0000:00:05.0");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::no_such_device);
    EXPECT_EQ(joined(r.error().lines), "0000:00:05.0: no such PCI function\n");
    const auto g = give_back(sysfs.host(), "zz:00.0");
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, std::errc::invalid_argument);
}

TEST_F(PciBinding, BindRefusesAMountedPartitionAndTouchesNothing)
{
    sysfs.add_partition("nvme0n1", "nvme0n1p1");
    sysfs.mount("/dev/nvme0n1p1", "/mnt/data");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::device_or_resource_busy);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: /dev/nvme0n1p1 is mounted on /mnt/data; unmount it first\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
    EXPECT_TRUE(sysfs.writes.empty());
    EXPECT_FALSE(fs::exists(sysfs.records() / ssd));
}

TEST_F(PciBinding, BindRefusesAWholeNamespaceThatIsActiveSwap)
{
    sysfs.swap_on("/dev/nvme0n1");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: /dev/nvme0n1 is active swap; swapoff /dev/nvme0n1 first\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
}

TEST_F(PciBinding, BindRefusesANamespaceOrPartitionWithAHolder)
{
    sysfs.add_partition("nvme0n1", "nvme0n1p2");
    sysfs.add_holder("nvme0n1/nvme0n1p2", "dm-0");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines),
              "0000:00:04.0: /dev/nvme0n1p2 is held by dm-0 (device-mapper, md or LVM); stop that first\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
}

TEST_F(PciBinding, BindIgnoresMountsAndSwapOfOtherDisks)
{
    sysfs.mount("/dev/nvme10n1", "/srv");
    sysfs.swap_on("/dev/nvme0n11");
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
}

TEST_F(PciBinding, MultipathNamespaceHeadsCountAsTheFunctionsDisks)
{
    FakeSysfs mp;
    mp.add_function(ssd, "nvme", 3);
    mp.add_controller(ssd, "nvme0", {"nvme0c0n1"});
    fs::create_directories(mp.sys() / "class/nvme-subsystem/nvme-subsys0/nvme0");
    fs::create_directories(mp.sys() / "class/nvme-subsystem/nvme-subsys0/nvme0n1");
    fs::create_directories(mp.sys() / "class/nvme-subsystem/nvme-subsys1/nvme1n1");
    fs::create_directories(mp.sys() / "block/nvme0n1/holders");
    EXPECT_EQ(namespace_disks_of(mp.host(), ssd), std::vector<std::string>{"nvme0n1"});
    mp.mount("/dev/nvme0n1", "/home");
    const auto r = bind_to_vfio(mp.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: /dev/nvme0n1 is mounted on /home; unmount it first\n");
}

TEST_F(PciBinding, NamespaceDisksAreSortedWithoutPartitionsOrHiddenPaths)
{
    sysfs.add_controller(ssd, "nvme0", {"nvme0n3", "nvme0n2"});
    sysfs.add_partition("nvme0n1", "nvme0n1p1");
    fs::create_directories(sysfs.device(ssd) / "nvme/nvme0/nvme0c0n1");
    EXPECT_EQ(namespace_disks_of(sysfs.host(), ssd), (std::vector<std::string>{"nvme0n1", "nvme0n2", "nvme0n3"}));
}

TEST_F(PciBinding, BindRefusesAnIommuGroupWithDevicesOnOtherDrivers)
{
    sysfs.add_function("0000:00:1f.3", "snd_hda_intel", 3);
    sysfs.add_function("0000:00:1c.0", "pcieport", 3);
    sysfs.add_function("0000:00:1e.0", "", 3);
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: IOMMU group 3 also holds 0000:00:1f.3, bound to snd_hda_intel; "
                                       "a group goes to vfio-pci whole (bind 0000:00:1f.3 first)\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
}

TEST_F(PciBinding, AGroupOfBridgesAndVfioBoundDevicesIsFine)
{
    sysfs.add_function("0000:00:1c.0", "pcieport", 3);
    sysfs.add_function("0000:00:1e.0", "", 3);
    sysfs.add_function("0000:00:05.0", "vfio-pci", 3);
    EXPECT_TRUE(bind_obstacles(sysfs.host(), ssd).empty());
}

TEST_F(PciBinding, BindRefusesAFunctionWithoutIommuGroup)
{
    sysfs.add_function("0000:00:06.0", "nvme", -1);
    const auto r = bind_to_vfio(sysfs.host(), "0000:00:06.0");
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "0000:00:06.0: no IOMMU group, so vfio-pci cannot take it (boot with "
                                       "intel_iommu=on or amd_iommu=on)\n");
}

TEST_F(PciBinding, EveryObstacleHasALineOfItsOwn)
{
    sysfs.mount("/dev/nvme0n1", "/mnt");
    sysfs.swap_on("/dev/nvme0n1");
    sysfs.add_function("0000:00:1f.3", "snd_hda_intel", 3);
    EXPECT_EQ(bind_obstacles(sysfs.host(), ssd).size(), 3u);
}

TEST_F(PciBinding, GiveBackReturnsTheFunctionToTheDriverItCameFrom)
{
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), ssd));
    sysfs.writes.clear();
    const auto r = give_back(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:04.0: given back to nvme (from vfio-pci)");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
    EXPECT_EQ(read_file(sysfs.device(ssd) / "driver_override"), "(null)\n");
    EXPECT_FALSE(fs::exists(sysfs.records() / ssd));
    EXPECT_EQ(sysfs.writes, (std::vector<std::string>{"bus/pci/devices/0000:00:04.0/driver_override=\\n",
                                                      "bus/pci/devices/0000:00:04.0/driver/unbind=0000:00:04.0",
                                                      "bus/pci/drivers/nvme/bind=0000:00:04.0"}));
}

TEST_F(PciBinding, GiveBackRefusesWhileAProcessHoldsTheVfioGroup)
{
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), ssd));
    sysfs.open_in(812, "nvmecused", "/dev/vfio/3");
    sysfs.open_in(813, "cat", "/dev/vfio/31");
    sysfs.writes.clear();
    const auto r = give_back(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::device_or_resource_busy);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: its VFIO group is open in nvmecused (pid 812); detach it "
                                       "there first (nvmecusectl detach NAME) or stop that process\n");
    EXPECT_TRUE(sysfs.writes.empty());
    EXPECT_EQ(sysfs.driver(ssd), "vfio-pci");
    EXPECT_TRUE(fs::exists(sysfs.records() / ssd)) << "the record stays for the give-back that follows";
}

TEST_F(PciBinding, GiveBackToADriverOfAnotherClassBindsItExplicitly)
{
    sysfs.add_function("0000:00:07.0", "pci-stub", 4, "e1000e");
    fs::create_directories(sysfs.sys() / "bus/pci/drivers/pci-stub");
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), "0000:00:07.0"));
    const auto r = give_back(sysfs.host(), "0000:00:07.0");
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(sysfs.driver("0000:00:07.0"), "pci-stub") << "not the driver the kernel would probe (e1000e)";
}

TEST_F(PciBinding, GiveBackLoadsTheDriverWhenItWasUnloaded)
{
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), ssd));
    sysfs.unload("nvme");
    const auto r = give_back(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(sysfs.loaded, std::vector<std::string>{"nvme"});
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
}

TEST_F(PciBinding, GiveBackWithoutARecordLetsTheKernelProbe)
{
    FakeSysfs other;
    other.add_function(ssd, "vfio-pci", 3);
    const auto r = give_back(other.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:04.0: no record of the driver it came from; the kernel gave it to nvme");
    EXPECT_EQ(other.driver(ssd), "nvme");
    EXPECT_EQ(other.writes.back(), "bus/pci/drivers_probe=0000:00:04.0");
}

TEST_F(PciBinding, GiveBackOfAFunctionOnItsDriverSaysSoAndSucceeds)
{
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), ssd));
    ASSERT_TRUE(give_back(sysfs.host(), ssd));
    sysfs.writes.clear();
    const auto r = give_back(sysfs.host(), ssd);
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:04.0: already bound to nvme, not vfio-pci; nothing to give back");
    EXPECT_TRUE(sysfs.writes.empty());
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
}

TEST_F(PciBinding, AFunctionThatCameWithoutDriverGoesBackWithoutOne)
{
    sysfs.add_function("0000:00:08.0", "", 5);
    ASSERT_TRUE(bind_to_vfio(sysfs.host(), "0000:00:08.0"));
    EXPECT_EQ(read_file(sysfs.records() / "0000:00:08.0"), "\n");
    const auto r = give_back(sysfs.host(), "0000:00:08.0");
    ASSERT_TRUE(r) << joined(r.error().lines);
    EXPECT_EQ(*r, "0000:00:08.0: given back to no driver, as it came");
    EXPECT_EQ(sysfs.driver("0000:00:08.0"), "");
}

TEST_F(PciBinding, ABindThatVfioPciRefusesReturnsTheFunction)
{
    sysfs.vfio_probe_fails = true;
    const auto r = bind_to_vfio(sysfs.host(), ssd);
    ASSERT_FALSE(r);
    EXPECT_EQ(joined(r.error().lines), "0000:00:04.0: vfio-pci did not take it (see dmesg); back with nvme\n");
    EXPECT_EQ(sysfs.driver(ssd), "nvme");
    EXPECT_EQ(read_file(sysfs.device(ssd) / "driver_override"), "(null)\n");
    EXPECT_FALSE(fs::exists(sysfs.records() / ssd));
}

} // namespace
