// The --json file, attached at start and followed on SIGHUP. See
// config_follower.hpp.
#include "nvmecuse/rpc/config_follower.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace nvmecuse::rpc {

using nlohmann::json;

ConfigFollower::ConfigFollower(std::string path, const Dispatcher& dispatcher,
                               service::ControllerManager& manager,
                               transport::tcp::TcpOptions defaults)
    : path_(std::move(path)), dispatcher_(dispatcher), manager_(manager), defaults_(std::move(defaults))
{
}

std::expected<std::vector<std::string>, std::string>
ConfigFollower::attach(const json& params) const
{
    const json request{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "controller_attach"},
                       {"params", params}};
    const json response = json::parse(dispatcher_.handle(request.dump()));
    if (auto error = response.find("error"); error != response.end())
        return std::unexpected(error->value("message", error->dump()));
    std::vector<std::string> names;
    for (const auto& c : response.value("result", json::array()))
        names.push_back(c.value("name", ""));
    return names;
}

bool ConfigFollower::running(const std::string& name) const
{
    const auto all = manager_.list();
    return std::ranges::any_of(all, [&](const auto& c) { return c.name == name; });
}

std::expected<std::size_t, std::string> ConfigFollower::load()
{
    auto doc = read_config(path_);
    if (!doc) return std::unexpected(doc.error());
    if (auto ok = check_config(*doc, defaults_); !ok) return std::unexpected(ok.error());
    node_settings_ = node_settings(*doc).value_or(NodeSettings{});
    std::size_t count = 0;
    for (const auto& [path, params] : config_attaches(*doc)) {
        auto names = attach(params);
        if (!names)
            return std::unexpected(fmt::format("{}: {}: controller_attach: {}", path_, path, names.error()));
        // The same declaration twice (no name) attaches twice: follow both.
        auto& followed = attached_[params.dump()];
        followed.insert(followed.end(), names->begin(), names->end());
        ++count;
    }
    return count;
}

std::expected<ConfigFollower::Reloaded, std::string> ConfigFollower::reload()
{
    auto doc = read_config(path_);
    if (!doc) return std::unexpected(doc.error());
    if (auto ok = check_config(*doc, defaults_); !ok)
        return std::unexpected(fmt::format("{}: {}", path_, ok.error()));
    if (node_settings(*doc).value_or(NodeSettings{}) != node_settings_)
        spdlog::warn("{}: node_set_options changed: the node directory, mode and owner apply "
                     "at start only", path_);
    const auto declared = config_attaches(*doc);
    std::set<Key> keys;
    for (const auto& [path, params] : declared)
        keys.insert(params.dump());

    Reloaded out;
    for (auto it = attached_.begin(); it != attached_.end();) {
        if (keys.contains(it->first)) {
            ++it;
            continue;
        }
        for (const auto& name : it->second)
            if (manager_.detach(name)) out.detached.push_back(name);
        it = attached_.erase(it);
    }
    for (const auto& [path, params] : declared) {
        const Key key = params.dump();
        if (auto it = attached_.find(key); it != attached_.end()) {
            if (std::ranges::any_of(it->second, [&](const auto& n) { return running(n); })) {
                ++out.kept;
                continue;
            }
        }
        const std::string name = params.value("name", "");
        if (!name.empty() && running(name)) {
            attached_[key] = {name}; // attached another way; followed from now on
            ++out.kept;
            continue;
        }
        auto names = attach(params);
        if (!names) {
            out.failed.push_back(fmt::format("{}: {}", path, names.error()));
            continue;
        }
        out.attached.insert(out.attached.end(), names->begin(), names->end());
        attached_[key] = std::move(*names);
    }
    return out;
}

} // namespace nvmecuse::rpc
