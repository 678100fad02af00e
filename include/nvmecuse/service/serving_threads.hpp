// The daemon's serving threads (--threads): reactors every controller and
// node shares, alive until the process exits.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <vector>

#include "nvmecuse/ctrlr/reactor.hpp"

namespace nvmecuse::service {

/// Starts `count` serving threads that poll for `spin` after their last work
/// (--poll-us) the first time (later calls return the same ones); they live
/// until the process exits, after every controller. Errors are messages.
[[nodiscard]] std::expected<std::vector<nvmecuse::ctrlr::Reactor*>, std::string>
serving_threads(unsigned count, std::chrono::microseconds spin);

/// The counters of every serving thread started so far, by index.
[[nodiscard]] std::vector<nvmecuse::ctrlr::Reactor::Counters> serving_thread_counters();

} // namespace nvmecuse::service
