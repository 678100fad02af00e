// The daemon's configuration file (rpc/config_file.cpp): save_config's
// answer, checked and replayed into a fresh manager, gives the same
// controllers; a bad file is refused naming the JSON path of what is wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "nvmecuse/rpc/config_follower.hpp"

#include "control_plane_fixture.hpp"
#include "dhchap_test_keys.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::testing {
namespace {

using nlohmann::json;
namespace code = rpc::error_code;

class ControlPlaneConfig : public ControlPlaneFixture {
protected:
    /// What list() says that a replay must reproduce.
    static json summary(const service::ControllerManager& manager)
    {
        json out = json::array();
        for (const auto& c : manager.list()) {
            json nodes = json::array();
            for (const auto& n : c.nodes)
                nodes.push_back(n.devname);
            out.push_back(json{{"name", c.name},
                               {"transport", c.transport},
                               {"trid", c.transport_id.describe()},
                               {"nodes", nodes},
                               {"namespaces", c.info ? c.info->namespaces.size() : 0},
                               {"state", c.state}});
        }
        return out;
    }

    /// The error check_config() gives `doc`.
    std::string check_error(const json& doc)
    {
        auto checked = rpc::check_config(doc, defaults_);
        EXPECT_FALSE(checked) << doc.dump();
        return checked ? std::string() : checked.error();
    }

    /// A configuration of one controller_attach call with `params`.
    static json one_attach(json params)
    {
        return json{{"subsystems",
                     json::array({json{{"subsystem", "nvmecuse"},
                                       {"config", json::array({json{{"method", "controller_attach"},
                                                                    {"params", params}}})}}})}};
    }

    /// The daemon restarts: the socket and the manager go, then a fresh
    /// manager (fresh_, the same serving options) replays `saved`.
    std::expected<std::size_t, std::string> restart_from(const json& saved)
    {
        server_.reset();
        const auto serving = manager_->serve_options();
        manager_.reset();
        fresh_ = std::make_unique<service::ControllerManager>(serving);
        rpc::Dispatcher dispatcher;
        rpc::add_native_methods(dispatcher, *fresh_, defaults_);
        return rpc::replay_config(saved, dispatcher, defaults_);
    }

    tcp_test::TestTarget target;
    std::unique_ptr<service::ControllerManager> fresh_;
};

TEST_F(ControlPlaneConfig, SavedConfigurationAttachesTheSameControllersInAFreshManager)
{
    serve();
    auto c = client();
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"}}));
    const json two_namespaces = {{"namespaces", json::array({{{"nsid", 1}, {"size_bytes", "8MiB"}},
                                                             {{"nsid", 2}, {"size_bytes", "4MiB"}}})}};
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"},
                                             {"name", "Disk"},
                                             {"nodes", false},
                                             {"config", two_namespaces}}));
    auto tcp = c.call("controller_attach", {{"trtype", "tcp"},
                                            {"traddr", "127.0.0.1"},
                                            {"trsvcid", target.port_string()},
                                            {"subnqn", "nqn.2026-11.io.nvmecuse:test"},
                                            {"kato", 7},
                                            {"reconnect_delay", 2},
                                            {"ctrl_loss_tmo", 30}});
    ASSERT_TRUE(tcp) << tcp.error().message;

    auto saved = c.call("save_config");
    ASSERT_TRUE(saved);
    const json& calls = (*saved)["subsystems"][0]["config"];
    ASSERT_EQ(calls.size(), 4u) << saved->dump(); // the nodes' settings, then each controller
    EXPECT_EQ((*saved)["subsystems"][0]["subsystem"], "nvmecuse");
    EXPECT_EQ(calls[0]["method"], "node_set_options");
    EXPECT_EQ(calls[2]["params"]["name"], "Disk");
    EXPECT_EQ(calls[2]["params"]["nodes"], false);
    EXPECT_EQ(calls[3]["params"]["kato"], 7);
    EXPECT_EQ(calls[3]["params"]["ctrl_loss_tmo"], 30);
    auto checked = rpc::check_config(*saved, defaults_);
    ASSERT_TRUE(checked) << checked.error();
    EXPECT_EQ(*checked, 3u);
    const json before = summary(*manager_);
    ASSERT_EQ(before.size(), 3u);

    auto replayed = restart_from(*saved);
    ASSERT_TRUE(replayed) << replayed.error();
    EXPECT_EQ(*replayed, 3u);
    EXPECT_EQ(summary(*fresh_), before);
    EXPECT_EQ(rpc::save_config(*fresh_), *saved);
}

TEST_F(ControlPlaneConfig, SaveConfigOfNothingIsAnEmptyConfigurationAndTakesNoParameters)
{
    serve();
    auto c = client();
    auto saved = c.call("save_config");
    ASSERT_TRUE(saved);
    const json& calls = (*saved)["subsystems"][0]["config"];
    ASSERT_EQ(calls.size(), 1u) << saved->dump();
    EXPECT_EQ(calls[0]["method"], "node_set_options");
    EXPECT_EQ(rpc::check_config(*saved, defaults_).value_or(99), 0u);
    auto refused = c.call("save_config", {{"filename", "x"}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().error.code, code::invalid_params);
    EXPECT_NE(refused.error().error.message.find("filename"), std::string::npos)
        << refused.error().error.message;
}

TEST_F(ControlPlaneConfig, CheckNamesTheJsonPathOfWhatIsWrong)
{
    EXPECT_EQ(check_error(json::array()), "$: not an object");
    EXPECT_EQ(check_error({{"subsystems", json::array()}, {"extra", 1}}), "$.extra: unknown key");
    EXPECT_EQ(check_error({{"subsystems", json::array({{{"subsystem", "bdev"}}})}}),
              "$.subsystems[0].subsystem: must be \"nvmecuse\"");
    auto doc = one_attach({{"trtype", "emulated"}});
    doc["subsystems"][0]["config"][0]["method"] = "controller_detach";
    EXPECT_NE(check_error(doc).find("$.subsystems[0].config[0].method: \"controller_detach\""),
              std::string::npos);
    EXPECT_NE(check_error(one_attach({{"trtype", "emulated"}, {"nodez", true}}))
                  .find("$.subsystems[0].config[0].params: "),
              std::string::npos);
    EXPECT_NE(check_error(one_attach({{"trtype", "emulated"}, {"nodez", true}})).find("nodez"),
              std::string::npos);
    const std::string kato = check_error(
        one_attach({{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"subnqn", "nqn.x:y"}, {"kato", "x"}}));
    EXPECT_NE(kato.find("params: kato"), std::string::npos) << kato;
    const std::string trid = check_error(one_attach({{"trtype", "tcp"}, {"subnqn", "nqn.x:y"}}));
    EXPECT_NE(trid.find("$.subsystems[0].config[0].params: "), std::string::npos) << trid;
    EXPECT_NE(trid.find("traddr"), std::string::npos) << trid;

    auto twice = one_attach({{"trtype", "emulated"}, {"name", "Disk"}});
    twice["subsystems"][0]["config"].push_back(twice["subsystems"][0]["config"][0]);
    EXPECT_EQ(check_error(twice), "$.subsystems[0].config[1].params.name: \"Disk\" is attached twice");
    // An index's name would only fail at the attach: --check says so first.
    EXPECT_EQ(check_error(one_attach({{"trtype", "emulated"}, {"name", "nvme3"}})),
              "$.subsystems[0].config[0].params.name: \"nvme3\": names nvme<N> are the "
              "controllers' indexes");
}

TEST_F(ControlPlaneConfig, SecretsOfAnAuthenticatedControllerAreSavedSoARestartAuthenticatesAgain)
{
    tcp_test::TargetConfig config;
    config.auth.host_key = dhchap_test_keys::sha256;
    config.auth.controller_key = dhchap_test_keys::sha384;
    tcp_test::TestTarget secured(config);
    serve();
    auto c = client();
    auto attached = c.call("controller_attach", {{"trtype", "tcp"},
                                                 {"traddr", "127.0.0.1"},
                                                 {"trsvcid", secured.port_string()},
                                                 {"subnqn", "nqn.2026-11.io.nvmecuse:test"},
                                                 {"hostnqn", "nqn.2026-11.io.nvmecuse:auth-host"},
                                                 {"dhchap_secret", dhchap_test_keys::sha256},
                                                 {"dhchap_ctrl_secret", dhchap_test_keys::sha384}});
    ASSERT_TRUE(attached) << attached.error().message;
    EXPECT_EQ((*attached)[0]["hostnqn"], "nqn.2026-11.io.nvmecuse:auth-host");
    // One connected with none: the daemon's default host NQN (list-subsys groups by it).
    auto emulated = c.call("controller_attach", {{"trtype", "emulated"}});
    ASSERT_TRUE(emulated) << emulated.error().message;
    EXPECT_EQ((*emulated)[0]["hostnqn"], transport::tcp::effective_host_nqn({}, defaults_));
    EXPECT_EQ((*emulated)[0]["hostnqn"].get<std::string>().rfind("nqn.2014-08.org.nvmexpress:uuid:", 0), 0u);
    ASSERT_TRUE(c.call("controller_detach", {{"name", (*emulated)[0]["name"]}}));
    const int authenticated = secured.authentications.load();
    EXPECT_GE(authenticated, 1);

    auto saved = c.call("save_config");
    ASSERT_TRUE(saved);
    const json& params = (*saved)["subsystems"][0]["config"][1]["params"];
    EXPECT_EQ(params["dhchap_secret"], dhchap_test_keys::sha256);
    EXPECT_EQ(params["dhchap_ctrl_secret"], dhchap_test_keys::sha384);

    auto replayed = restart_from(*saved);
    ASSERT_TRUE(replayed) << replayed.error();
    EXPECT_GT(secured.authentications.load(), authenticated);
    EXPECT_EQ(secured.auth_failures1.load(), 0);
    ASSERT_EQ(fresh_->list().size(), 1u);
    EXPECT_EQ(fresh_->list()[0].state, "live");
}

TEST_F(ControlPlaneConfig, NvmeTcpOnlyOptionsAreRefusedForOtherControllersNamingThem)
{
    const json pcie = {{"trtype", "pcie"}, {"traddr", "0000:00:04.0"}};
    for (const auto& [key, value] : {std::pair<std::string, json>{"hdr_digest", true},
                                     {"data_digest", true},
                                     {"dhchap_secret", std::string(dhchap_test_keys::sha256)}}) {
        json params = pcie;
        params[key] = value;
        EXPECT_NE(check_error(one_attach(params)).find(key + ": an NVMe/TCP option, not for trtype \"pcie\""),
                  std::string::npos)
            << key;
        params = {{"trtype", "emulated"}, {key, value}};
        EXPECT_NE(check_error(one_attach(params)).find(key + ": an NVMe/TCP option"), std::string::npos)
            << key;
    }
    // What SPDK's rpc.py sends by default (false) is no request for a digest.
    json params = pcie;
    params["hdr_digest"] = false;
    params["data_digest"] = false;
    EXPECT_TRUE(rpc::check_config(one_attach(params), defaults_));
}

/// A configuration whose only call is node_set_options with `params`.
json node_options(json params)
{
    return json{{"subsystems", json::array({json{{"subsystem", "nvmecuse"},
                                                 {"config", json::array({json{{"method", "node_set_options"},
                                                                              {"params", params}}})}}})}};
}

TEST_F(ControlPlaneConfig, NodeDirectoryModeAndOwnerAreSavedAndReadBack)
{
    service::ServeOptions serving;
    serving.directory = "disks/nvme";
    serving.permissions.mode = 0640;
    serving.permissions.uid = 1234;
    serving.permissions.gid = 5678;
    const service::ControllerManager manager(serving);
    const json saved = rpc::save_config(manager);
    EXPECT_EQ(saved["subsystems"][0]["config"][0],
              (json{{"method", "node_set_options"},
                    {"params", {{"directory", "disks/nvme"}, {"mode", "0640"}, {"uid", 1234}, {"gid", 5678}}}}));
    auto settings = rpc::node_settings(saved);
    ASSERT_TRUE(settings) << settings.error();
    EXPECT_EQ(settings->directory, "disks/nvme");
    EXPECT_EQ(settings->mode, mode_t{0640});
    EXPECT_EQ(settings->uid, 1234u);
    EXPECT_EQ(settings->gid, 5678u);
    EXPECT_EQ(rpc::check_config(saved, defaults_).value_or(99), 0u);

    // Names, and a file that sets only some (or none) of them.
    settings = rpc::node_settings(node_options({{"uid", "root"}, {"gid", "root"}}));
    ASSERT_TRUE(settings) << settings.error();
    EXPECT_EQ(settings->uid, 0u);
    EXPECT_EQ(settings->gid, 0u);
    EXPECT_FALSE(settings->directory);
    EXPECT_FALSE(settings->mode);
    settings = rpc::node_settings(one_attach({{"trtype", "emulated"}}));
    ASSERT_TRUE(settings) << settings.error();
    EXPECT_FALSE(settings->directory || settings->mode || settings->uid || settings->gid);
}

TEST_F(ControlPlaneConfig, BadNodeSettingsAreRefusedNamingTheirJsonPath)
{
    const std::string at = "$.subsystems[0].config[0].params.";
    const auto error = [&](const json& params) {
        const std::string checked = check_error(node_options(params));
        auto settings = rpc::node_settings(node_options(params));
        EXPECT_FALSE(settings) << params.dump();
        EXPECT_EQ(settings ? std::string() : settings.error(), checked);
        return checked;
    };
    EXPECT_EQ(error({{"mode", "0999"}}).rfind(at + "mode: ", 0), 0u);
    EXPECT_EQ(error({{"mode", "01777"}}).rfind(at + "mode: ", 0), 0u);
    EXPECT_NE(error({{"mode", 432}}).find("octal string"), std::string::npos);
    EXPECT_EQ(error({{"directory", "/dev/x"}}).rfind(at + "directory: ", 0), 0u);
    EXPECT_EQ(error({{"directory", "a/../b"}}).rfind(at + "directory: ", 0), 0u);
    EXPECT_EQ(error({{"directory", ""}}).rfind(at + "directory: ", 0), 0u);
    EXPECT_EQ(error({{"directory", 7}}).rfind(at + "directory: ", 0), 0u);
    EXPECT_NE(error({{"uid", "no-such-user-nvmecuse"}}).find(at + "uid: no-such-user-nvmecuse: no such user"),
              std::string::npos);
    EXPECT_EQ(error({{"gid", -1}}).rfind(at + "gid: ", 0), 0u);
    EXPECT_EQ(error({{"owner", 0}}), at + "owner: unknown key");

    auto twice = node_options({{"mode", "0600"}});
    twice["subsystems"][0]["config"].push_back(twice["subsystems"][0]["config"][0]);
    EXPECT_EQ(check_error(twice), "$.subsystems[0].config[1].method: node_set_options is called "
                                  "twice (first at $.subsystems[0].config[0])");
}

/// A configuration of controller_attach calls with `params`, in order.
json attaches(std::initializer_list<json> params)
{
    json calls = json::array();
    for (const auto& p : params)
        calls.push_back(json{{"method", "controller_attach"}, {"params", p}});
    return json{{"subsystems", json::array({json{{"subsystem", "nvmecuse"}, {"config", calls}}})}};
}

std::vector<std::string> names_of(const service::ControllerManager& manager)
{
    std::vector<std::string> out;
    for (const auto& c : manager.list())
        out.push_back(c.name);
    std::ranges::sort(out);
    return out;
}

TEST_F(ControlPlaneConfig, ReloadBringsTheDeclaredControllersInLineAndLeavesOthersAlone)
{
    const std::string file = dir_ + "/nvmecused.json";
    const auto write = [&](const json& doc) { std::ofstream(file) << doc.dump(2); };
    const json a{{"trtype", "emulated"}, {"name", "A"}, {"nodes", false}};
    const json b{{"trtype", "emulated"}, {"name", "B"}, {"nodes", false}};
    const json d{{"trtype", "emulated"}, {"name", "D"}, {"nodes", false}};
    write(attaches({a, b}));
    rpc::ConfigFollower config(file, dispatcher_, *manager_, defaults_);
    auto loaded = config.load();
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(*loaded, 2u);
    serve();
    ASSERT_TRUE(client().call("controller_attach", {{"trtype", "emulated"}, {"name", "C"}, {"nodes", false}}));
    const auto index_of_b = [&] {
        for (const auto& c : manager_->list())
            if (c.name == "B") return static_cast<int>(c.index);
        return -1;
    };
    const int b_index = index_of_b();

    // A goes, B stays as it was, C (attached over the socket) is not the
    // file's, D comes.
    write(attaches({b, d}));
    auto reloaded = config.reload();
    ASSERT_TRUE(reloaded) << reloaded.error();
    EXPECT_EQ(reloaded->detached, std::vector<std::string>{"A"});
    EXPECT_EQ(reloaded->attached, std::vector<std::string>{"D"});
    EXPECT_EQ(reloaded->kept, 1u);
    EXPECT_TRUE(reloaded->failed.empty());
    EXPECT_EQ(names_of(*manager_), (std::vector<std::string>{"B", "C", "D"}));
    EXPECT_EQ(index_of_b(), b_index) << "B was not attached again";

    // Read again unchanged: nothing happens.
    reloaded = config.reload();
    ASSERT_TRUE(reloaded) << reloaded.error();
    EXPECT_TRUE(reloaded->attached.empty() && reloaded->detached.empty());
    EXPECT_EQ(reloaded->kept, 2u);

    // A changed declaration is detached and attached again, in its new form.
    json b2 = b;
    b2["config"] = {{"namespaces", json::array({{{"nsid", 1}, {"size_bytes", "4MiB"}}})}};
    write(attaches({b2, d}));
    reloaded = config.reload();
    ASSERT_TRUE(reloaded) << reloaded.error();
    EXPECT_EQ(reloaded->detached, std::vector<std::string>{"B"});
    EXPECT_EQ(reloaded->attached, std::vector<std::string>{"B"});

    // A file that does not check changes nothing.
    write(attaches({json{{"trtype", "emulated"}, {"name", "E"}, {"bogus", 1}}}));
    reloaded = config.reload();
    ASSERT_FALSE(reloaded);
    EXPECT_NE(reloaded.error().find("$.subsystems[0].config[0].params"), std::string::npos)
        << reloaded.error();
    EXPECT_EQ(names_of(*manager_), (std::vector<std::string>{"B", "C", "D"}));
}

TEST_F(ControlPlaneConfig, ReplayStopsAtTheFirstCallThatFailsNamingIt)
{
    auto doc = one_attach({{"trtype", "emulated"}});
    doc["subsystems"][0]["config"].push_back(
        {{"method", "controller_attach"},
         {"params", {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"},
                     {"subnqn", "nqn.2016-06.io.spdk:cnode1"}, {"ctrl_loss_tmo", 0}}}});
    rpc::Dispatcher dispatcher;
    rpc::add_native_methods(dispatcher, *manager_, defaults_);
    auto replayed = rpc::replay_config(doc, dispatcher, defaults_);
    ASSERT_FALSE(replayed);
    EXPECT_EQ(replayed.error().rfind("$.subsystems[0].config[1]: controller_attach: ", 0), 0u)
        << replayed.error();
    EXPECT_EQ(manager_->list().size(), 1u); // the first one came up
}

} // namespace
} // namespace nvmecuse::testing
