// The daemon's configuration file (--json), followed: attached at start,
// and read again on SIGHUP, when the running set is brought in line with
// it. Declarations are told apart by their parameters, exactly: one that
// changed is detached in its old form and attached in its new one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <expected>
#include <map>
#include <string>
#include <vector>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

namespace nvmecuse::rpc {

class ConfigFollower {
public:
    /// `dispatcher` serves controller_attach on `manager` (both outlive this).
    ConfigFollower(std::string path, const Dispatcher& dispatcher,
                   service::ControllerManager& manager, transport::tcp::TcpOptions defaults);

    /// Reads the file and attaches what it declares, in order (replay_config());
    /// stops at the first that fails, naming it. Returns how many it attached.
    [[nodiscard]] std::expected<std::size_t, std::string> load();

    struct Reloaded {
        std::vector<std::string> attached; ///< controllers attached now
        std::vector<std::string> detached; ///< controllers the file no longer declares
        std::size_t kept = 0;              ///< declarations left running as they were
        std::vector<std::string> failed;   ///< "<JSON path>: why", attaching went on
    };
    /// Reads the file again (SIGHUP). A file that does not read or check
    /// changes nothing (the error says why). Otherwise, first detaches the
    /// controllers that an earlier load() or reload() attached for a
    /// declaration the file no longer has, then attaches each declaration
    /// that is new or whose controllers are all gone. A new declaration
    /// whose name a running controller already has is taken as that one.
    /// Controllers attached another way (--attach, the control socket) are
    /// never detached. Node settings apply at start only (a change is
    /// logged). One caller at a time.
    [[nodiscard]] std::expected<Reloaded, std::string> reload();

private:
    /// A declaration's parameters, as one canonical string (sorted keys).
    using Key = std::string;
    /// controller_attach of `params`: the names it brought up.
    std::expected<std::vector<std::string>, std::string> attach(const nlohmann::json& params) const;
    [[nodiscard]] bool running(const std::string& name) const;

    std::string path_;
    const Dispatcher& dispatcher_;
    service::ControllerManager& manager_;
    transport::tcp::TcpOptions defaults_;
    std::map<Key, std::vector<std::string>> attached_; ///< by this follower, per declaration
    NodeSettings node_settings_;                      ///< as load() found them
};

} // namespace nvmecuse::rpc
