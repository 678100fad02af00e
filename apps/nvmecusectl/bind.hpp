// nvmecusectl bind and give-back: a local PCI function handed to vfio-pci
// for nvmecused and back to its kernel driver, through sysfs (no daemon).
#pragma once

#include <CLI/CLI.hpp>

namespace nvmecusectl {

/// Adds the bind and give-back subcommands to `app`. Each runs when parsed
/// and ends the parse with its exit status (CLI::Success, or
/// CLI::RuntimeError: 1 refused or failed, 2 not a PCI address, 4 not root).
void add_binding_commands(CLI::App& app);

} // namespace nvmecusectl
