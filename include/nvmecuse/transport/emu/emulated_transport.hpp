#pragma once

#include <expected>
#include <memory>
#include <system_error>

#include "nvmecuse/transport/emu/config.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::emu {

/// A transport whose controller is an in-process emulated NVMe SSD built
/// from `config`. Commands execute synchronously inside QueuePair::submit()
/// on the owner thread; completions are reaped right after.
///
/// Errors: `invalid_argument` for an inconsistent config (duplicate or
/// out-of-range nsid, unsupported LBA format, capacity exceeded), an errno
/// from opening or sizing a namespace's backing file.
[[nodiscard]] std::expected<std::unique_ptr<transport::Transport>, std::error_code>
make_transport(ControllerConfig config);

} // namespace nvmecuse::emu
