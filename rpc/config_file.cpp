// The daemon's configuration file: what save_config answers, checked
// (--check) and replayed at start (--json FILE): the nodes' settings
// (node_set_options), then controller_attach calls. See methods.hpp.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/service/node_settings.hpp"

#include "attach_params.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;

namespace {

constexpr const char* subsystem_name = "nvmecuse";

/// Where one call sits in the file, for errors.
std::string where(std::size_t subsystem, std::size_t call)
{
    return fmt::format("$.subsystems[{}].config[{}]", subsystem, call);
}

constexpr const char* node_method = "node_set_options";

/// What a configuration calls, each call with its JSON path.
struct Calls {
    std::vector<std::pair<std::string, json>> attaches; ///< controller_attach, in order
    std::optional<std::pair<std::string, json>> node_options;
};

/// The calls of `doc`; errors name the path of what is wrong.
std::expected<Calls, std::string> calls_of(const json& doc)
{
    if (!doc.is_object()) return std::unexpected("$: not an object");
    for (const auto& [key, value] : doc.items())
        if (key != "subsystems") return std::unexpected(fmt::format("$.{}: unknown key", key));
    auto subsystems = doc.find("subsystems");
    if (subsystems == doc.end() || !subsystems->is_array())
        return std::unexpected("$.subsystems: missing, or not an array");
    Calls calls;
    for (std::size_t i = 0; i < subsystems->size(); ++i) {
        const json& s = (*subsystems)[i];
        const std::string at = fmt::format("$.subsystems[{}]", i);
        if (!s.is_object()) return std::unexpected(at + ": not an object");
        for (const auto& [key, value] : s.items())
            if (key != "subsystem" && key != "config")
                return std::unexpected(fmt::format("{}.{}: unknown key", at, key));
        if (s.value("subsystem", json()) != subsystem_name)
            return std::unexpected(
                fmt::format("{}.subsystem: must be \"{}\"", at, subsystem_name));
        auto config = s.find("config");
        if (config == s.end() || config->is_null()) continue; // SPDK writes null for none
        if (!config->is_array()) return std::unexpected(at + ".config: not an array");
        for (std::size_t k = 0; k < config->size(); ++k) {
            const json& call = (*config)[k];
            const std::string path = where(i, k);
            if (!call.is_object()) return std::unexpected(path + ": not an object");
            for (const auto& [key, value] : call.items())
                if (key != "method" && key != "params")
                    return std::unexpected(fmt::format("{}.{}: unknown key", path, key));
            const json method = call.value("method", json());
            if (method != "controller_attach" && method != node_method)
                return std::unexpected(
                    fmt::format("{}.method: {} is not a method a configuration may call "
                                "(controller_attach, {})",
                                path, method.dump(), node_method));
            const json params = call.value("params", json::object());
            if (!params.is_object()) return std::unexpected(path + ".params: not an object");
            if (method == "controller_attach") {
                calls.attaches.emplace_back(path, params);
            } else if (calls.node_options) {
                return std::unexpected(fmt::format("{}.method: {} is called twice (first at {})",
                                                   path, node_method, calls.node_options->first));
            } else {
                calls.node_options.emplace(path, params);
            }
        }
    }
    return calls;
}

/// node_set_options' params at `path`, checked.
std::expected<NodeSettings, std::string> node_settings_of(const std::string& path, const json& params)
{
    NodeSettings out;
    const std::string at = path + ".params";
    for (const auto& [key, value] : params.items()) {
        const std::string here = fmt::format("{}.{}", at, key);
        if (key == "directory") {
            if (!value.is_string()) return std::unexpected(here + ": not a string");
            if (auto ok = service::check_node_directory(value.get<std::string>()); !ok)
                return std::unexpected(fmt::format("{}: {}", here, ok.error()));
            out.directory = value.get<std::string>();
        } else if (key == "mode") {
            if (!value.is_string())
                return std::unexpected(here + ": give it as an octal string, such as \"0660\"");
            auto mode = service::parse_node_mode(value.get<std::string>());
            if (!mode) return std::unexpected(fmt::format("{}: {}", here, mode.error()));
            out.mode = *mode;
        } else if (key == "uid" || key == "gid") {
            if (!value.is_string() && !value.is_number_unsigned())
                return std::unexpected(here + ": not a name or a number");
            const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
            auto id = service::resolve_owner(here + ":", text, key == "gid");
            if (!id) return std::unexpected(id.error());
            (key == "uid" ? out.uid : out.gid) = *id;
        } else {
            return std::unexpected(here + ": unknown key");
        }
    }
    return out;
}

} // namespace

json save_config(const service::ControllerManager& manager)
{
    const auto& serving = manager.serve_options();
    json config = json::array({json{{"method", node_method},
                                    {"params", {{"directory", serving.directory},
                                                {"mode", fmt::format("{:04o}", serving.permissions.mode)},
                                                {"uid", serving.permissions.uid},
                                                {"gid", serving.permissions.gid}}}}});
    const auto controllers = manager.list();
    const auto by_discovery = [&](const service::ControllerStatus& c) {
        return std::ranges::any_of(controllers, [&](const service::ControllerStatus& d) {
            return d.discovery && d.name == c.discovered_by;
        });
    };
    for (const auto& c : controllers)
        if (!by_discovery(c)) // otherwise the discovery controller attaches it again
            config.push_back(json{{"method", "controller_attach"}, {"params", attach_params(c)}});
    return json{{"subsystems", json::array({json{{"subsystem", subsystem_name},
                                                  {"config", std::move(config)}}})}};
}

std::expected<json, std::string> read_config(const std::string& path)
{
    std::ifstream in(path);
    if (!in) return std::unexpected(fmt::format("{}: cannot read it", path));
    std::stringstream text;
    text << in.rdbuf();
    try {
        return json::parse(text.str());
    } catch (const json::exception& e) { // parse_error, or a number out of range
        return std::unexpected(fmt::format("{}: not JSON: {}", path, e.what()));
    }
}

std::expected<std::size_t, std::string> check_config(const json& doc,
                                                     const transport::tcp::TcpOptions& defaults)
{
    auto calls = calls_of(doc);
    if (!calls) return std::unexpected(calls.error());
    if (calls->node_options)
        if (auto ok = node_settings_of(calls->node_options->first, calls->node_options->second); !ok)
            return std::unexpected(ok.error());
    std::set<std::string> names;
    for (const auto& [path, params] : calls->attaches) {
        auto call = parse_attach(params, defaults);
        if (!call) return std::unexpected(fmt::format("{}.params: {}", path, call.error().message));
        const auto& name = call->request.name;
        if (service::is_index_name(name))
            return std::unexpected(fmt::format(
                "{}.params.name: \"{}\": names nvme<N> are the controllers' indexes", path, name));
        if (!name.empty() && !names.insert(name).second)
            return std::unexpected(
                fmt::format("{}.params.name: \"{}\" is attached twice", path, name));
    }
    return calls->attaches.size();
}

std::expected<NodeSettings, std::string> node_settings(const json& doc)
{
    auto calls = calls_of(doc);
    if (!calls) return std::unexpected(calls.error());
    if (!calls->node_options) return NodeSettings{};
    return node_settings_of(calls->node_options->first, calls->node_options->second);
}

std::vector<std::pair<std::string, json>> config_attaches(const json& doc)
{
    auto calls = calls_of(doc);
    return calls ? calls->attaches : std::vector<std::pair<std::string, json>>{};
}

std::expected<std::size_t, std::string> replay_config(const json& doc, const Dispatcher& dispatcher,
                                                      const transport::tcp::TcpOptions& defaults)
{
    if (auto ok = check_config(doc, defaults); !ok) return ok;
    auto calls = calls_of(doc);
    for (const auto& [path, params] : calls->attaches) {
        const json request{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "controller_attach"},
                           {"params", params}};
        const json response = json::parse(dispatcher.handle(request.dump()));
        if (auto error = response.find("error"); error != response.end())
            return std::unexpected(fmt::format("{}: controller_attach: {}", path,
                                               error->value("message", error->dump())));
    }
    return calls->attaches.size();
}

} // namespace nvmecuse::rpc
