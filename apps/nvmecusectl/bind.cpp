// nvmecusectl bind BDF and give-back BDF, as SPDK's scripts/setup.sh and
// setup.sh reset: the sysfs work is transport/pcie's pci_binding; here the
// command line, the root check and the exit statuses.
#include "bind.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "nvmecuse/transport/pcie/pci_binding.hpp"

namespace nvmecusectl {

namespace {

namespace pcie = nvmecuse::transport::pcie;

[[noreturn]] void finish(const std::string& command,
                         const std::expected<std::string, pcie::BindingError>& result)
{
    if (result) {
        std::printf("%s\n", result->c_str());
        throw CLI::Success();
    }
    for (const auto& line : result.error().lines)
        std::fprintf(stderr, "nvmecusectl %s: %s\n", command.c_str(), line.c_str());
    throw CLI::RuntimeError(result.error().code == std::errc::invalid_argument ? 2 : 1);
}

void require_root(const std::string& command)
{
    if (::geteuid() == 0) return;
    std::fprintf(stderr, "nvmecusectl %s: must run as root (it writes to /sys/bus/pci)\n", command.c_str());
    throw CLI::RuntimeError(4);
}

} // namespace

void add_binding_commands(CLI::App& app)
{
    auto bdf = std::make_shared<std::string>();
    auto* bind = app.add_subcommand(
        "bind", "hand a PCI function to vfio-pci for nvmecused, unless a namespace of it is in use "
                "(as root, through sysfs: no daemon needed)");
    bind->add_option("bdf", *bdf, "PCI address, 0000:00:04.0")->required();
    bind->footer("Examples:\n  nvmecusectl bind 0000:00:04.0\n"
                 "  nvmecused --attach 'trtype:pcie traddr:0000:00:04.0'");
    bind->callback([bdf] {
        require_root("bind");
        finish("bind", pcie::bind_to_vfio(pcie::PciHost{}, *bdf));
    });
    auto* give_back = app.add_subcommand(
        "give-back", "return a PCI function from vfio-pci to the driver bind took it from (as root)");
    give_back->add_option("bdf", *bdf, "PCI address, 0000:00:04.0")->required();
    give_back->footer("Examples:\n  nvmecusectl give-back 0000:00:04.0");
    give_back->callback([bdf] {
        require_root("give-back");
        finish("give-back", pcie::give_back(pcie::PciHost{}, *bdf));
    });
}

} // namespace nvmecusectl
