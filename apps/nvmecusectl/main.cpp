// nvmecusectl: nvmecused's control socket from the command line. Lists,
// attaches, detaches, resets and rescans controllers, lists a discovery
// controller's log and prints the nodes' counters; nvme-cli's option names where nvme-cli has the command.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>

#include "nvmecuse/rpc/client.hpp"

#include "attach_options.hpp"
#include "bind.hpp"
#include "listing.hpp"
#include "prometheus.hpp"
#include "rates.hpp"
#include "saved_config.hpp"

using nlohmann::json;
using nvmecuse::rpc::CallError;
using nvmecusectl::AttachOptions;

namespace {

/// Exit statuses: 1 a refused request, 2 a usage error (CLI11's),
/// 3 the daemon not running, 4 permission denied.
int exit_status(const CallError& e)
{
    switch (e.kind) {
    case CallError::Kind::not_running: return 3;
    case CallError::Kind::permission_denied: return 4;
    default: return 1;
    }
}

/// save-config's answer to `file`, or to standard output; readable by
/// its owner only when it carries DH-HMAC-CHAP secrets.
int save_config(const json& config, const std::string& file)
{
    const std::string text = config.dump(2) + '\n';
    std::expected<void, std::string> written;
    if (!file.empty())
        written = nvmecusectl::write_private_file(file, text);
    else if (nvmecusectl::holds_secrets(config))
        written = nvmecusectl::make_private(STDOUT_FILENO);
    if (!written) {
        std::fprintf(stderr, "nvmecusectl: %s\n", written.error().c_str());
        return 1;
    }
    if (file.empty()) std::cout << text;
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"nvmecusectl: list, attach and detach the controllers nvmecused serves (on its "
                 "control socket)"};
    app.set_version_flag("--version", std::string("nvmecusectl ") + NVMECUSE_VERSION);
    app.require_subcommand(1);
    std::string socket = "/run/nvmecuse/nvmecused.sock";
    app.add_option("-S,--socket", socket, "nvmecused's control socket")->capture_default_str();
    app.footer(R"(Examples:
  nvmecusectl list
  nvmecusectl list-subsys
  nvmecusectl attach -t tcp -a 192.168.1.7 -s 4420 -n nqn.2026-11.io.example:disk
  nvmecusectl attach -t tcp -a 192.168.1.7 -n nqn.2026-11.io.example:disk -S DHHC-1:01:...: -g -G
  nvmecusectl attach 'trtype:pcie traddr:0000:00:04.0'
  nvmecusectl attach -t emulated
  nvmecusectl discover -t tcp -a 192.168.1.7 -s 8009
  nvmecusectl create-emulated --name Scratch --config controller.json
  nvmecusectl delete-emulated Scratch
  nvmecusectl detach nvme1
  nvmecusectl stats --prometheus
  nvmecusectl save-config /etc/nvmecuse/nvmecused.json   (nvmecused --json FILE attaches them again)
  nvmecusectl call bdev_nvme_get_controllers)");

    auto* list = app.add_subcommand("list", "controllers and namespaces, as nvme list");
    std::string output = "normal";
    list->add_option("-o,--output-format", output, "normal or json")
        ->check(CLI::IsMember({"normal", "json"}))
        ->capture_default_str();

    auto* list_subsys = app.add_subcommand(
        "list-subsys", "controllers by subsystem NQN, with transport address and state, as nvme list-subsys");
    list_subsys->add_option("-o,--output-format", output, "normal or json")
        ->check(CLI::IsMember({"normal", "json"}))
        ->capture_default_str();

    AttachOptions a;
    auto* attach = app.add_subcommand("attach", "attach a controller (nvme connect's options)");
    nvmecusectl::add_attach_options(*attach, a);

    AttachOptions d;
    auto* discover = app.add_subcommand(
        "discover", "list a discovery controller's log, attaching nothing, as nvme discover");
    nvmecusectl::add_discover_options(*discover, d);
    discover->add_option("-o,--output-format", output, "normal or json")
        ->check(CLI::IsMember({"normal", "json"}))
        ->capture_default_str();

    std::string name;
    unsigned grace_ms = 5000;
    auto* detach = app.add_subcommand("detach", "detach a controller; its nodes disappear");
    detach->add_option("name", name, "controller (nvme<N> or its name)")->required();
    detach->add_option("--grace-ms", grace_ms, "how long in-flight ioctls may take to finish")
        ->capture_default_str();
    auto* reset = app.add_subcommand("reset", "controller reset");
    reset->add_option("name", name, "controller")->required();
    auto* rescan = app.add_subcommand("rescan", "rescan the namespaces");
    rescan->add_option("name", name, "controller")->required();
    auto* stats = app.add_subcommand("stats", "the nodes' counters");
    stats->add_option("name", name, "controller (default: all)");
    bool prometheus = false;
    auto* prometheus_flag = stats->add_flag(
        "--prometheus", prometheus,
        "the Prometheus text exposition format (node_exporter's textfile collector)");
    double interval = 0;
    stats->add_option("-i,--interval", interval,
                      "print IOPS, MB/s and errors per second over this many seconds, as a table")
        ->check(CLI::Range(0.1, 3600.0))
        ->excludes(prometheus_flag);

    AttachOptions emulated;
    emulated.transport = "emulated";
    auto* create = app.add_subcommand("create-emulated",
                                      "create an emulated controller (emulated_controller_create)");
    create->add_option("--name", emulated.name, "a name of yours (default: nvme<N>)");
    create->add_option("--config", emulated.config, "the controller's JSON configuration")
        ->check(CLI::ExistingFile);
    auto* remove = app.add_subcommand(
        "delete-emulated", "detach an emulated controller (emulated_controller_delete; "
                           "refused for another one)");
    remove->add_option("name", name, "controller")->required();

    auto* save = app.add_subcommand(
        "save-config", "print the configuration that attaches the same controllers again "
                       "(save_config; for nvmecused --json FILE)");
    std::string save_file;
    save->add_option("file", save_file, "write it to FILE, mode 0600, instead of standard output");

    std::string raw_method;
    std::string raw_params = "{}";
    auto* call = app.add_subcommand("call", "any method, as SPDK's rpc.py calls it; prints the result");
    call->add_option("method", raw_method, "e.g. bdev_nvme_get_controllers")->required();
    call->add_option("params", raw_params, "the params object, as JSON")->capture_default_str();

    nvmecusectl::add_binding_commands(app);

    // Each subcommand's --help ends with its own examples (the man page's
    // SUBCOMMANDS section stops at "Examples:").
    for (const auto& [sub, examples] : std::initializer_list<std::pair<CLI::App*, const char*>>{
             {list, "nvmecusectl list\n  nvmecusectl list -o json"},
             {list_subsys, "nvmecusectl list-subsys\n  nvmecusectl list-subsys -o json"},
             {attach, "nvmecusectl attach -t tcp -a 192.168.1.7 -s 4420 -n nqn.2026-11.io.example:disk\n"
                      "  nvmecusectl attach -t tcp -a 192.168.1.7 -n nqn.2026-11.io.example:disk "
                      "-S DHHC-1:01:...: -g -G\n"
                      "  nvmecusectl attach 'trtype:pcie traddr:0000:00:04.0'\n"
                      "  nvmecusectl attach -t emulated --config controller.json"},
             {discover, "nvmecusectl discover -t tcp -a 192.168.1.7 -s 8009\n"
                        "  nvmecusectl discover -a 192.168.1.7 -o json"},
             {detach, "nvmecusectl detach nvme1 --grace-ms 1000"},
             {reset, "nvmecusectl reset nvme1"},
             {rescan, "nvmecusectl rescan nvme1"},
             {stats, "nvmecusectl stats nvme1\n"
                     "  nvmecusectl stats --interval 5\n"
                     "  nvmecusectl stats --prometheus > /var/lib/node_exporter/nvmecuse.prom"},
             {create, "nvmecusectl create-emulated --name Scratch --config controller.json"},
             {remove, "nvmecusectl delete-emulated Scratch"},
             {save, "nvmecusectl save-config /etc/nvmecuse/nvmecused.json"},
             {call, "nvmecusectl call bdev_nvme_get_controllers '{\"name\": \"Nvme0\"}'"}})
        sub->footer(std::string("Examples:\n  ") + examples);

    CLI11_PARSE(app, argc, argv);

    std::string method;
    json params = json::object();
    if (*list || *list_subsys) {
        method = "controller_list";
    } else if (*attach || *create) {
        auto p = nvmecusectl::attach_params(*attach ? a : emulated);
        if (!p) {
            std::fprintf(stderr, "nvmecusectl: %s\n", p.error().c_str());
            return 2;
        }
        method = *attach ? "controller_attach" : "emulated_controller_create";
        params = std::move(*p);
        if (*create) params.erase("trtype"); // implied
    } else if (*discover) {
        auto p = nvmecusectl::discover_params(d);
        if (!p) {
            std::fprintf(stderr, "nvmecusectl: %s\n", p.error().c_str());
            return 2;
        }
        method = "discovery_log";
        params = std::move(*p);
    } else if (*detach) {
        method = "controller_detach";
        params = {{"name", name}, {"grace_ms", grace_ms}};
    } else if (*reset || *rescan) {
        method = *reset ? "controller_reset" : "rescan";
        params = {{"name", name}};
    } else if (*remove) {
        method = "emulated_controller_delete";
        params = {{"name", name}};
    } else if (*save) {
        method = "save_config";
    } else if (*call) {
        method = raw_method;
        try {
            params = json::parse(raw_params);
        } catch (const json::exception& e) {
            std::fprintf(stderr, "nvmecusectl: params: %s\n", e.what());
            return 2;
        }
    } else {
        method = "stats";
        if (!name.empty()) params = {{"name", name}};
    }

    auto client = nvmecuse::rpc::Client::connect(socket);
    if (!client) {
        std::fprintf(stderr, "nvmecusectl: %s\n", client.error().message.c_str());
        return exit_status(client.error());
    }
    auto result = client->call(method, params);
    if (!result) {
        std::fprintf(stderr, "nvmecusectl: %s\n", result.error().message.c_str());
        return exit_status(result.error());
    }
    if (*list_subsys) {
        if (output == "json")
            std::cout << nvmecusectl::subsys_json(*result).dump(2) << '\n';
        else
            std::cout << nvmecusectl::subsys_table(*result);
    } else if (*list) {
        if (output == "json")
            std::cout << nvmecusectl::list_json(*result).dump(2) << '\n';
        else
            std::cout << nvmecusectl::list_table(*result);
    } else if (*discover) {
        if (output == "json")
            std::cout << result->dump(2) << '\n';
        else
            std::cout << nvmecusectl::discovery_text(*result);
    } else if (*create) {
        std::cout << fmt::format("{}: {}\n", result->value("name", ""),
                                 (*result)["node"].is_string() ? (*result)["node"].get<std::string>()
                                                               : std::string("no nodes"));
    } else if (*attach) {
        for (const auto& c : *result)
            std::cout << fmt::format("{}: {}\n", c.value("name", ""),
                                     c["node"].is_string() ? c["node"].get<std::string>()
                                                           : std::string("no nodes"));
    } else if (*save) {
        return save_config(*result, save_file);
    } else if (*stats && prometheus) {
        std::cout << nvmecusectl::prometheus_text(*result);
    } else if (*stats && interval > 0) {
        const auto start = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(interval));
        auto later = client->call(method, params);
        if (!later) {
            std::fprintf(stderr, "nvmecusectl: %s\n", later.error().message.c_str());
            return exit_status(later.error());
        }
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        std::cout << nvmecusectl::rates_table(*result, *later, took.count());
    } else if (*stats || *call) {
        std::cout << result->dump(2) << '\n';
    }
    return 0;
}
