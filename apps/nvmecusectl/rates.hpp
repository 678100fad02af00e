// nvmecusectl stats --interval SECONDS: what each node did between two
// answers of the stats method, as a table (IOPS, MB/s, errors per second),
// with the node's sampled ioctl latency beside it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nvmecusectl {

/// One row per node of `after` (the stats method's answer,
/// [{"controller", "node", "stats": {...}}]), its counters' growth since
/// `before` divided by `seconds`: ioctls answered per second, MB/s read and
/// written (10^6 bytes), errors per second, then the p50 and p99 of the
/// node's sampled latency so far, in µs ("-" without samples). A node
/// missing from `before` counts from zero; a counter that went down (the
/// node was re-created) counts from zero too. Pure.
[[nodiscard]] std::string rates_table(const nlohmann::json& before, const nlohmann::json& after,
                                      double seconds);

} // namespace nvmecusectl
