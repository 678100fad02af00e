// The daemon's configuration file: what save_config answers, checked
// (--check) and replayed at start (--json FILE). See methods.hpp.
#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "nvmecuse/rpc/methods.hpp"

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

/// Calls every controller_attach of `doc` with its path; errors name the
/// path of what is wrong.
std::expected<std::vector<std::pair<std::string, json>>, std::string> calls_of(const json& doc)
{
    if (!doc.is_object()) return std::unexpected("$: not an object");
    for (const auto& [key, value] : doc.items())
        if (key != "subsystems") return std::unexpected(fmt::format("$.{}: unknown key", key));
    auto subsystems = doc.find("subsystems");
    if (subsystems == doc.end() || !subsystems->is_array())
        return std::unexpected("$.subsystems: missing, or not an array");
    std::vector<std::pair<std::string, json>> calls;
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
            if (call.value("method", json()) != "controller_attach")
                return std::unexpected(
                    fmt::format("{}.method: {} is not a method a configuration may call "
                                "(controller_attach)",
                                path, call.value("method", json()).dump()));
            const json params = call.value("params", json::object());
            if (!params.is_object()) return std::unexpected(path + ".params: not an object");
            calls.emplace_back(path, params);
        }
    }
    return calls;
}

} // namespace

json save_config(const service::ControllerManager& manager)
{
    json config = json::array();
    for (const auto& c : manager.list())
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
    std::set<std::string> names;
    for (const auto& [path, params] : *calls) {
        auto call = parse_attach(params, defaults);
        if (!call) return std::unexpected(fmt::format("{}.params: {}", path, call.error().message));
        const auto& name = call->request.name;
        if (!name.empty() && !names.insert(name).second)
            return std::unexpected(
                fmt::format("{}.params.name: \"{}\" is attached twice", path, name));
    }
    return calls->size();
}

std::expected<std::size_t, std::string> replay_config(const json& doc, const Dispatcher& dispatcher,
                                                      const transport::tcp::TcpOptions& defaults)
{
    if (auto ok = check_config(doc, defaults); !ok) return ok;
    auto calls = calls_of(doc);
    for (const auto& [path, params] : *calls) {
        const json request{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "controller_attach"},
                           {"params", params}};
        const json response = json::parse(dispatcher.handle(request.dump()));
        if (auto error = response.find("error"); error != response.end())
            return std::unexpected(fmt::format("{}: controller_attach: {}", path,
                                               error->value("message", error->dump())));
    }
    return calls->size();
}

} // namespace nvmecuse::rpc
