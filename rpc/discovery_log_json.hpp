// A Discovery Log Page as nvme discover -o json prints it: the answer of
// the discovery_log method, which nvmecusectl discover prints.
#pragma once

#include <nlohmann/json.hpp>

#include "nvmecuse/ctrlr/discovery.hpp"

namespace nvmecuse::rpc {

/// {"genctr": N, "records": [...]}, each record with nvme-cli's keys
/// (trtype, adrfam, subtype, treq, portid, trsvcid, subnqn, traddr, eflags,
/// and sectype for TCP) and the names of the libnvme that Debian 12 ships
/// (1.3): "unrecognized" for a value it has no name for.
[[nodiscard]] nlohmann::json discovery_log_json(const ctrlr::DiscoveryLog& log);

} // namespace nvmecuse::rpc
