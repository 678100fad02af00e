// nvmecusectl list: controller_list's answer as nvme-cli 2.x's `nvme list`
// prints it (table and -o json), plus transport and state.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nvmecusectl {

/// The table: a row per namespace node (Node, SN, Model, Namespace, Usage,
/// Format, FW Rev as nvme list), then Transport and State; a controller
/// without namespaces gets a row of its own node. Pure.
[[nodiscard]] std::string list_table(const nlohmann::json& controllers);

/// nvme list -o json's shape ({"Devices": [...]}, one per namespace), each
/// with "Controller", "Transport" and "State" added. Pure.
[[nodiscard]] nlohmann::json list_json(const nlohmann::json& controllers);

} // namespace nvmecusectl
