// What the native and SPDK methods share: parameter access, the manager's
// errors as JSON-RPC errors, transport IDs from parameters.
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::rpc {

/// The manager's error as SPDK would answer it: a negative errno code.
[[nodiscard]] Error to_rpc_error(const service::ManagerError& error);

/// invalid_params with `message`.
[[nodiscard]] Error invalid_params(std::string message);

/// params[key] as a string; invalid_params when missing or not a string.
[[nodiscard]] std::expected<std::string, Error> required_string(const nlohmann::json& params,
                                                                std::string_view key);

/// The "name" of a method whose only parameter it is.
[[nodiscard]] std::expected<std::string, Error> name_only(const nlohmann::json& params);

/// A transport ID from separate fields (SPDK's and nvme connect's names),
/// validated by transport::parse_transport_id(). `fields` maps each key
/// of the transport ID to its value; empty values are left out.
[[nodiscard]] std::expected<transport::TransportId, Error>
transport_id_from(const std::vector<std::pair<std::string_view, std::string>>& fields);

/// Fixed-width, blank-padded identify text ("sn", "mn", "fr") trimmed.
[[nodiscard]] std::string trimmed(std::string_view text);

} // namespace nvmecuse::rpc
