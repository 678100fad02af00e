// controller_attach's parameters both ways: parsed into what the manager
// attaches, and made from a controller the manager holds (save_config), so
// that a saved configuration attaches the same controllers again.
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <optional>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/emu/config.hpp"

namespace nvmecuse::rpc {

/// One controller_attach, checked.
struct AttachCall {
    service::AttachRequest request;
    transport::TransportId id;                     ///< unused for an emulated one
    transport::tcp::TcpOptions tcp;
    std::optional<emu::ControllerConfig> emulated; ///< set: trtype "emulated"
};

/// Checks controller_attach's `params` without attaching: known keys, the
/// transport ID, the connection options (`defaults` with what `params`
/// sets), an emulated controller's configuration (and that this machine can
/// build it). Errors are invalid_params naming the parameter, among them
/// a digest or DH-HMAC-CHAP secret asked of a controller that is not
/// NVMe/TCP's.
[[nodiscard]] std::expected<AttachCall, Error>
parse_attach(const nlohmann::json& params, const transport::tcp::TcpOptions& defaults);

/// The controller_attach parameters that attach `c` again as it is: its
/// name when the caller gave it, its nodes or none, its transport ID and
/// connection options with its DH-HMAC-CHAP secrets (whoever keeps the
/// answer must keep it private), or its emulated configuration.
[[nodiscard]] nlohmann::json attach_params(const service::ControllerStatus& c);

} // namespace nvmecuse::rpc
