// What SPDK's controller methods and its discovery methods share: SPDK's
// spellings of transport IDs and its reconnect options.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::rpc {

/// `text` in lower case (SPDK's "TCP", "IPv4").
[[nodiscard]] std::string lower(std::string text);

/// A parameter SPDK accepts whose only value nvmecuse honours is `honoured`
/// (SPDK's default): anything else is refused, naming why.
template <typename T>
[[nodiscard]] std::expected<void, Error> only_default(const nlohmann::json& params,
                                                      std::string_view key, T honoured,
                                                      std::string_view why)
{
    const auto it = params.find(key);
    if (it == params.end() || it->is_null() || it->get<T>() == honoured) return {};
    return std::unexpected(
        Error{-EINVAL, fmt::format("{} {}: not supported by nvmecuse ({})", key, it->dump(), why)});
}

/// SPDK's trtype/adrfam values ("TCP", "PCIe", "IPv4") as nvmecuse's
/// transport ID (trtype, traddr, adrfam, trsvcid, subnqn, hostnqn).
[[nodiscard]] std::expected<transport::TransportId, Error>
spdk_transport_id(const nlohmann::json& params);

/// SPDK's reconnect options (ctrlr_loss_timeout_sec, reconnect_delay_sec,
/// fast_io_fail_timeout_sec) into `tcp`, with SPDK's rules between them.
[[nodiscard]] std::expected<void, Error> reconnect_options(const nlohmann::json& params,
                                                          transport::tcp::TcpOptions& tcp);

/// A transport ID as SPDK writes one ("trtype": "TCP", "adrfam": "IPv4", ...).
[[nodiscard]] nlohmann::json spdk_trid(const transport::TransportId& id);

/// bdev_nvme_start_discovery, bdev_nvme_stop_discovery and
/// bdev_nvme_get_discovery_info (spdk_discovery.cpp).
void add_spdk_discovery_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                                const transport::tcp::TcpOptions& defaults);

} // namespace nvmecuse::rpc
