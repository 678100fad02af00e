// The methods of nvmecused's control socket, over the controller manager.
#pragma once

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

namespace nvmecuse::rpc {

/// nvmecuse's own methods: controller_attach,
/// controller_detach, controller_list, namespace_list, controller_reset,
/// rescan, stats. `defaults` are the connection options an attach starts
/// from (the daemon's --hostnqn, --kato, ...). `manager` must outlive
/// the dispatcher's use.
void add_native_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                        const transport::tcp::TcpOptions& defaults);

/// SPDK's methods with SPDK's parameter names and answers, so that
/// `rpc.py -s SOCKET` works unchanged: bdev_nvme_attach_controller
/// (attaches without nodes), bdev_nvme_cuse_register,
/// bdev_nvme_cuse_unregister, bdev_nvme_detach_controller,
/// bdev_nvme_get_controllers.
void add_spdk_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                      const transport::tcp::TcpOptions& defaults);

} // namespace nvmecuse::rpc
