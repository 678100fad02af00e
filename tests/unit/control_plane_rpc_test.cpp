// The control socket's contract (rpc/): every method of nvmecuse's own and
// of SPDK's, every JSON-RPC 2.0 error object, malformed and oversized
// requests, and a peer the credential check refuses.
#include <sys/stat.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "nvmecuse/rpc/framing.hpp"

#include "control_plane_fixture.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::testing {
namespace {

using nlohmann::json;
namespace code = rpc::error_code;

/// The error code of a response value.
int code_of(const json& response) { return response.at("error").at("code").get<int>(); }

/// The error code a call failed with; 0 when it succeeded.
int call_error(rpc::Client& c, const std::string& method, const json& params = json::object())
{
    auto r = c.call(method, params);
    return r ? 0 : r.error().error.code;
}

rpc::Dispatcher echo_dispatcher()
{
    rpc::Dispatcher d;
    d.add("echo", [](const json& params) -> std::expected<json, rpc::Error> { return params; });
    d.add("typed", [](const json& params) -> std::expected<json, rpc::Error> {
        return params.at("n").get<int>() + 1;
    });
    return d;
}

TEST(RpcDispatcher, BytesThatAreNotUtf8AreAParseErrorNotAnException)
{
    // The parse error quotes what it read last; the answer must still be
    // writable JSON (found by tests/fuzz/rpc_request_fuzz.cpp).
    const auto d = echo_dispatcher();
    const std::string request = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\x9d\":\"echo\"}";
    std::string text;
    ASSERT_NO_THROW(text = d.handle(request));
    EXPECT_EQ(code_of(json::parse(text)), code::parse_error);
}

TEST(RpcDispatcher, ANumberNoDoubleHoldsIsAParseErrorNotAnException)
{
    // JSON's grammar allows 1E777; the parser throws out_of_range for it
    // (found by tests/fuzz/rpc_request_fuzz.cpp in CI).
    const auto d = echo_dispatcher();
    for (const std::string request :
         {"[7777777777E777]", R"({"jsonrpc":"2.0","id":1E400,"method":"echo"})"}) {
        std::string text;
        ASSERT_NO_THROW(text = d.handle(request)) << request;
        EXPECT_EQ(code_of(json::parse(text)), code::parse_error) << request;
        EXPECT_NO_THROW((void)nvmecuse::rpc::frame(request)) << request;
    }
}

TEST(RpcDispatcher, EveryErrorObjectOfTheSpecification)
{
    const auto d = echo_dispatcher();
    const auto answer = [&](std::string_view text) { return json::parse(d.handle(text)); };
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method")")), code::parse_error);
    EXPECT_EQ(code_of(answer("1")), code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"method": "echo", "id": 1})")), code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "1.0", "method": "echo", "id": 1})")),
              code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": 5, "id": 1})")), code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "echo", "id": {}})")),
              code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 1})")),
              code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "echo", "extra": 3, "id": 1})")),
              code::invalid_request);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "nope", "id": 1})")),
              code::method_not_found);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1})")),
              code::invalid_params);
    EXPECT_EQ(code_of(answer(R"({"jsonrpc": "2.0", "method": "typed", "params": {"n": "x"}, "id": 1})")),
              code::invalid_params);
    EXPECT_EQ(code_of(answer("[]")), code::invalid_request);
    const auto ok = answer(R"({"jsonrpc": "2.0", "method": "typed", "params": {"n": 41}, "id": "a"})");
    EXPECT_EQ(ok["result"], 42);
    EXPECT_EQ(ok["id"], "a");
    EXPECT_EQ(ok["jsonrpc"], "2.0");
}

TEST(RpcDispatcher, NotificationsAndBatches)
{
    const auto d = echo_dispatcher();
    EXPECT_EQ(d.handle(R"({"jsonrpc": "2.0", "method": "echo"})"), "");
    const auto batch = json::parse(d.handle(
        R"([{"jsonrpc": "2.0", "method": "echo", "params": {"a": 1}, "id": 1},
            {"jsonrpc": "2.0", "method": "echo"},
            {"jsonrpc": "2.0", "method": "nope", "id": 2}, 7])"));
    ASSERT_EQ(batch.size(), 3u);
    EXPECT_EQ(batch[0]["result"]["a"], 1);
    EXPECT_EQ(code_of(batch[1]), code::method_not_found);
    EXPECT_EQ(code_of(batch[2]), code::invalid_request);
}

TEST(RpcFraming, FindsTheEndOfOneValueInAStream)
{
    using Kind = rpc::Frame::Kind;
    EXPECT_EQ(rpc::frame("").kind, Kind::incomplete);
    EXPECT_EQ(rpc::frame(R"( {"a": "}\"]"})").kind, Kind::complete);
    EXPECT_EQ(rpc::frame(R"( {"a": "}\"]"}{"b")").end, 14u);
    EXPECT_EQ(rpc::frame(R"({"a": [1, 2)").kind, Kind::incomplete);
    EXPECT_EQ(rpc::frame(R"({"a": "unterminated)").kind, Kind::incomplete);
    EXPECT_EQ(rpc::frame(R"({"a": tru)").kind, Kind::incomplete);
    EXPECT_EQ(rpc::frame("hello").kind, Kind::not_json);
    EXPECT_EQ(rpc::frame("{bad").kind, Kind::not_json); // a syntax error before the end
}

class ControlPlaneRpc : public ControlPlaneFixture {};

TEST_F(ControlPlaneRpc, SocketIsPrivateAndAnswersOnOneConnectionInTurn)
{
    serve();
    struct stat st {};
    ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    auto c = client();
    // rpc.py's framing: a bare object, no delimiter; two in one write.
    auto first = c.exchange(R"({"jsonrpc":"2.0","method":"controller_list","id":1}{"jsonrpc":"2.0","method":"stats","id":2})");
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ((*first)["id"], 1);
    auto second = c.exchange("");
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ((*second)["id"], 2);
    EXPECT_EQ((*second)["result"], json::array());
}

TEST_F(ControlPlaneRpc, MalformedAndOversizedRequestsGetErrorObjects)
{
    rpc::ServerOptions options;
    options.max_request = 4096;
    serve(options);
    {
        auto c = client();
        auto r = c.exchange("{\"jsonrpc\": \"2.0\", \"method\": nope}");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(code_of(*r), code::parse_error);
    }
    {
        auto c = client();
        auto r = c.exchange("{\"jsonrpc\": \"2.0\", \"method\": \"x\", \"params\": {\"a\": \"" +
                            std::string(8192, 'a'));
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(code_of(*r), code::invalid_request);
        // And the connection is closed.
        EXPECT_FALSE(c.call("controller_list"));
    }
    auto c = client();
    EXPECT_EQ(call_error(c, "no_such_method"), code::method_not_found);
    EXPECT_EQ(call_error(c, "controller_list"), 0); // the server goes on
}

TEST_F(ControlPlaneRpc, PeerWithoutPermissionIsRefused)
{
    rpc::ServerOptions options;
    options.authorize = [](const ucred& peer) { return peer.uid == 12345; };
    serve(options);
    auto c = client();
    auto r = c.call("controller_list");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, rpc::CallError::Kind::permission_denied);
    EXPECT_EQ(r.error().error.code, -EACCES);
    EXPECT_TRUE(rpc::peer_is_root_or_self(ucred{1, ::geteuid(), ::getegid()}));
}

TEST_F(ControlPlaneRpc, SecondServerOnALiveSocketIsRefusedAStaleOneReplaced)
{
    serve();
    rpc::ServerOptions options;
    options.path = socket_path();
    EXPECT_FALSE(rpc::Server::start(dispatcher_, options));
    server_->stop();
    // A dead daemon's socket file: bound, never listened on.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_path().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
    auto again = rpc::Server::start(dispatcher_, options);
    ASSERT_TRUE(again) << again.error();
    auto c = client();
    EXPECT_EQ(call_error(c, "controller_list"), 0);
}

TEST_F(ControlPlaneRpc, NativeMethods)
{
    serve();
    auto c = client();
    json config = {{"namespaces", json::array({{{"nsid", 1}, {"size_bytes", "16MiB"}},
                                               {{"nsid", 2}, {"size_bytes", "8MiB"}, {"lba_data_size", 4096}}})}};
    auto attached = c.call("controller_attach", {{"trtype", "emulated"}, {"config", config}});
    ASSERT_TRUE(attached) << attached.error().message;
    ASSERT_EQ(attached->size(), 1u);
    EXPECT_EQ((*attached)[0]["name"], "nvme0");
    EXPECT_EQ((*attached)[0]["node"], "/dev/nvmecuse/nvme0");

    auto list = c.call("controller_list");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 1u);
    const auto& ctrl = (*list)[0];
    EXPECT_EQ(ctrl["state"], "live");
    EXPECT_EQ(ctrl["activity"], "");
    EXPECT_EQ(ctrl["transport"], "emulated");
    EXPECT_EQ(ctrl["model_number"], "nvmecuse Emulated NVMe SSD");
    EXPECT_EQ(ctrl["nodes"].size(), 3u);

    auto namespaces = c.call("namespace_list", {{"name", "nvme0"}});
    ASSERT_TRUE(namespaces);
    ASSERT_EQ(namespaces->size(), 2u);
    EXPECT_EQ((*namespaces)[1]["nsid"], 2);
    EXPECT_EQ((*namespaces)[1]["lba_data_size"], 4096);
    EXPECT_EQ((*namespaces)[1]["size_bytes"], 8u << 20);
    EXPECT_EQ((*namespaces)[1]["node"], "/dev/nvmecuse/nvme0n2");

    auto stats = c.call("stats", {{"name", "nvme0"}});
    ASSERT_TRUE(stats);
    ASSERT_EQ(stats->size(), 3u);
    EXPECT_EQ((*stats)[0]["node"], "/dev/nvmecuse/nvme0");
    EXPECT_TRUE((*stats)[0]["stats"].contains("in_flight"));
    EXPECT_EQ((*stats)[0]["stats"]["in_flight_bytes"], 0);
    EXPECT_EQ((*stats)[0]["stats"]["over_budget"], 0);

    EXPECT_EQ(call_error(c, "controller_reset", {{"name", "nvme0"}}), 0);
    EXPECT_EQ(call_error(c, "rescan", {{"name", "nvme0"}}), 0);
    EXPECT_EQ(call_error(c, "controller_detach", {{"name", "nvme0"}}), 0);
    EXPECT_EQ(c.call("controller_list").value(), json::array());

    // Errors: negative errno values for the manager's, -32602 for parameters.
    for (const char* method : {"controller_detach", "controller_reset", "rescan", "namespace_list"})
        EXPECT_EQ(call_error(c, method, {{"name", "nvme7"}}), -ENODEV) << method;
    EXPECT_EQ(call_error(c, "controller_detach"), code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_list", {{"nmae", "x"}}), code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_attach", {{"trid", "trtype:tcp"}}), code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_attach", {{"trtype", "emulated"}, {"config", {{"mdts", "x"}}}}),
              code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_attach",
                         {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"},
                          {"subnqn", "nqn.2016-06.io.spdk:cnode1"}}),
              -EIO); // nothing listens on port 1
    // DH-HMAC-CHAP secrets are checked before connecting (a CRC that does
    // not match; a controller secret without the host's).
    const std::string good = "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";
    const std::string bad_crc = "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaQ:";
    EXPECT_EQ(call_error(c, "controller_attach",
                         {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"},
                          {"dhchap_secret", bad_crc}}),
              code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_attach",
                         {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"},
                          {"dhchap_ctrl_secret", good}}),
              code::invalid_params);
    EXPECT_EQ(call_error(c, "controller_attach",
                         {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"},
                          {"subnqn", "nqn.2016-06.io.spdk:cnode1"},
                          {"dhchap_secret", good}}),
              -EIO); // a good secret: the attach gets as far as connecting
    EXPECT_EQ(call_error(c, "controller_attach", {{"trtype", "emulated"}, {"name", "nvme3"}}),
              -EINVAL); // the names of indexes are reserved
}

TEST_F(ControlPlaneRpc, SpdkMethodsWithSpdkShapes)
{
    serve();
    auto c = client();
    // Attached without nodes, as bdev_nvme_attach_controller does.
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"}, {"name", "Nvme0"}, {"nodes", false}}));
    auto controllers = c.call("bdev_nvme_get_controllers");
    ASSERT_TRUE(controllers);
    ASSERT_EQ(controllers->size(), 1u);
    EXPECT_EQ((*controllers)[0]["name"], "Nvme0");
    EXPECT_EQ((*controllers)[0]["ctrlrs"][0]["state"], "enabled");
    EXPECT_FALSE((*controllers)[0]["ctrlrs"][0].contains("cuse_device"));

    EXPECT_EQ(call_error(c, "bdev_nvme_cuse_register", {{"name", "Nvme0"}}), 0);
    EXPECT_EQ(call_error(c, "bdev_nvme_cuse_register", {{"name", "Nvme0"}}), -EEXIST);
    controllers = c.call("bdev_nvme_get_controllers", {{"name", "Nvme0"}});
    ASSERT_TRUE(controllers);
    EXPECT_EQ((*controllers)[0]["ctrlrs"][0]["cuse_device"], "nvmecuse/nvme0");
    EXPECT_EQ(call_error(c, "bdev_nvme_cuse_unregister", {{"name", "Nvme0"}}), 0);
    EXPECT_EQ(call_error(c, "bdev_nvme_cuse_unregister", {{"name", "Nvme0"}}), -ENODEV);
    EXPECT_EQ(call_error(c, "bdev_nvme_detach_controller", {{"name", "Nvme0"}, {"traddr", "10.0.0.1"}}),
              -ENODEV); // not its path
    EXPECT_EQ(call_error(c, "bdev_nvme_detach_controller", {{"name", "Nvme0"}}), 0);
    EXPECT_EQ(c.call("bdev_nvme_get_controllers").value(), json::array());
    EXPECT_EQ(call_error(c, "bdev_nvme_get_controllers", {{"name", "Nvme0"}}), -ENODEV);

    // rpc.py's request, its defaults included, gets as far as connecting.
    const json spdk = {{"name", "Nvme1"},        {"trtype", "tcp"},       {"traddr", "127.0.0.1"},
                       {"adrfam", "ipv4"},       {"trsvcid", "1"},        {"subnqn", "nqn.2016-06.io.spdk:cnode1"},
                       {"prchk_reftag", false},  {"prchk_guard", false},  {"hdgst", false},
                       {"ddgst", false},         {"ctrlr_loss_timeout_sec", 0}, {"reconnect_delay_sec", 0},
                       {"fast_io_fail_timeout_sec", 0}, {"multipath", "failover"}};
    EXPECT_EQ(call_error(c, "bdev_nvme_attach_controller", spdk), -EIO);
    // What nvmecuse cannot honour is refused by name.
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
             {"prchk_reftag", true}, {"psk", "NVMeTLSkey-1:01:x"}, {"trtype", "RDMA"},
             {"multipath", "multipath"}, {"hostaddr", "10.0.0.9"}, {"reconnect_delay_sec", 5},
             {"dhchap_key", "key0"}, {"dhchap_ctrlr_key", "ckey0"}, {"max_bdevs", 0}}) {
        json params = spdk;
        params[key] = value;
        auto r = c.call("bdev_nvme_attach_controller", params);
        ASSERT_FALSE(r) << key;
        EXPECT_EQ(r.error().error.code, -EINVAL) << key << ": " << r.error().message;
        EXPECT_NE(r.error().error.message.find(key), std::string::npos) << r.error().error.message;
    }
    json typo = spdk;
    typo["trsvcid_"] = "1";
    EXPECT_EQ(call_error(c, "bdev_nvme_attach_controller", typo), code::invalid_params);
    EXPECT_EQ(call_error(c, "bdev_nvme_attach_controller", {{"trtype", "tcp"}}), code::invalid_params);
}

TEST_F(ControlPlaneRpc, SpdkAttachTakesEveryParameterRpcPySendsWithItsDefaults)
{
    tcp_test::TestTarget target;
    serve();
    auto c = client();
    // rpc.py bdev_nvme_attach_controller -b Nvme1 -t tcp -a 127.0.0.1 -f ipv4 -s PORT -n NQN
    // (SPDK 25.01): its store_true flags go out false, and --policy,
    // --selector and --min-io go out grouped in multipath_opts, empty.
    const json request = {{"name", "Nvme1"},
                          {"trtype", "tcp"},
                          {"traddr", "127.0.0.1"},
                          {"adrfam", "ipv4"},
                          {"trsvcid", target.port_string()},
                          {"subnqn", "nqn.2026-11.io.nvmecuse:test"},
                          {"prchk_reftag", false},
                          {"prchk_guard", false},
                          {"hdgst", false},
                          {"ddgst", false},
                          {"allow_unrecognized_csi", false},
                          {"multipath_opts", json::object()}};
    auto attached = c.call("bdev_nvme_attach_controller", request);
    ASSERT_TRUE(attached) << attached.error().message;
    EXPECT_EQ(*attached, json::array({"Nvme1n1"}));
    ASSERT_EQ(call_error(c, "bdev_nvme_detach_controller", {{"name", "Nvme1"}}), 0);

    // Every other parameter of SPDK's, at values nvmecuse honours.
    json every = request;
    every.update({{"priority", 0},
                  {"hostnqn", "nqn.2026-11.io.nvmecuse:spdk-host"},
                  {"hostaddr", ""},
                  {"hostsvcid", ""},
                  {"fabrics_connect_timeout_us", 3'000'000},
                  {"multipath", "disable"},
                  {"num_io_queues", 2},
                  {"ctrlr_loss_timeout_sec", 30},
                  {"reconnect_delay_sec", 2},
                  {"fast_io_fail_timeout_sec", 0},
                  {"psk", ""},
                  {"max_bdevs", 1},
                  {"allow_unrecognized_csi", true},
                  {"multipath_opts", {{"policy", "active_passive"}, {"selector", "round_robin"}, {"min_io", 1}}}});
    attached = c.call("bdev_nvme_attach_controller", every);
    ASSERT_TRUE(attached) << attached.error().message;
    EXPECT_EQ(*attached, json::array({"Nvme1n1"}));
    const auto status = manager_->find("Nvme1");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->transport_id.hostnqn, "nqn.2026-11.io.nvmecuse:spdk-host");
    EXPECT_EQ(status->tcp.io_queues, 2u);
    EXPECT_EQ(status->tcp.ctrl_loss_tmo.count(), 30);
    EXPECT_EQ(status->tcp.reconnect_delay.count(), 2);

    // Malformed values of the new parameters are -32602, naming them.
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
             {"allow_unrecognized_csi", "yes"}, {"multipath_opts", {{"polcy", "active_active"}}},
             {"multipath_opts", 3}}) {
        json params = request;
        params["name"] = "Nvme2";
        params[key] = value;
        auto r = c.call("bdev_nvme_attach_controller", params);
        ASSERT_FALSE(r) << key;
        EXPECT_EQ(r.error().error.code, code::invalid_params) << key;
    }
    EXPECT_EQ(manager_->list().size(), 1u);
}

TEST_F(ControlPlaneRpc, EachAttachAndDetachIsReportedWithWhatIsServedThen)
{
    std::mutex mutex;
    std::vector<std::size_t> served; // list()'s size at each report
    manager_->on_change([&] {
        const auto n = manager_->list().size();
        std::lock_guard lock(mutex);
        served.push_back(n);
    });
    serve();
    auto c = client();
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"}}));
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"}, {"nodes", false}}));
    ASSERT_EQ(call_error(c, "controller_detach", {{"name", "nvme0"}}), 0);
    EXPECT_NE(call_error(c, "controller_detach", {{"name", "nvme0"}}), 0); // no change
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(served, (std::vector<std::size_t>{1, 2, 1}));
    }
    manager_->on_change({});
    ASSERT_EQ(call_error(c, "controller_detach", {{"name", "nvme1"}}), 0);
    std::lock_guard lock(mutex);
    EXPECT_EQ(served.size(), 3u); // no callback any more
}

TEST_F(ControlPlaneRpc, EmulatedControllersAreCreatedAndDeletedAtRuntime)
{
    serve();
    auto c = client();
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "emulated"}})); // nvme0, not created here
    auto created = c.call("emulated_controller_create",
                          {{"name", "Scratch"},
                           {"config", {{"namespaces", json::array({{{"nsid", 1}}, {{"nsid", 2}}})}}}});
    ASSERT_TRUE(created) << created.error().error.message;
    EXPECT_EQ((*created)["name"], "Scratch");
    EXPECT_EQ((*created)["transport"], "emulated");
    EXPECT_EQ((*created)["namespaces"].size(), 2u);
    EXPECT_EQ((*created)["node"], "/dev/nvmecuse/nvme1");
    auto unnamed = c.call("emulated_controller_create");
    ASSERT_TRUE(unnamed);
    EXPECT_EQ((*unnamed)["name"], "nvme2");

    // Malformed parameters: -32602, naming the parameter.
    auto typo = c.call("emulated_controller_create", {{"nmae", "x"}});
    ASSERT_FALSE(typo);
    EXPECT_EQ(typo.error().error.code, code::invalid_params);
    EXPECT_NE(typo.error().error.message.find("nmae"), std::string::npos);
    auto config = c.call("emulated_controller_create", {{"config", {{"mdts", "x"}}}});
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error().error.code, code::invalid_params);
    EXPECT_NE(config.error().error.message.find("config"), std::string::npos);
    auto nameless = c.call("emulated_controller_delete");
    ASSERT_FALSE(nameless);
    EXPECT_EQ(nameless.error().error.code, code::invalid_params);
    EXPECT_NE(nameless.error().error.message.find("name"), std::string::npos);
    EXPECT_EQ(call_error(c, "emulated_controller_create", {{"name", "Scratch"}}), -EEXIST);

    EXPECT_EQ(call_error(c, "emulated_controller_delete", {{"name", "Scratch"}}), 0);
    EXPECT_EQ(call_error(c, "emulated_controller_delete", {{"name", "Scratch"}}), -ENODEV);
    EXPECT_EQ(manager_->list().size(), 2u);
}

TEST_F(ControlPlaneRpc, EmulatedControllerDeleteRefusesAnotherTransport)
{
    tcp_test::TestTarget target;
    serve();
    auto c = client();
    ASSERT_TRUE(c.call("controller_attach", {{"trtype", "tcp"},
                                             {"traddr", "127.0.0.1"},
                                             {"trsvcid", target.port_string()},
                                             {"subnqn", "nqn.2026-11.io.nvmecuse:test"}}));
    auto refused = c.call("emulated_controller_delete", {{"name", "nvme0"}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().error.code, -EINVAL);
    EXPECT_NE(refused.error().error.message.find("not an emulated controller"), std::string::npos)
        << refused.error().error.message;
    EXPECT_EQ(manager_->list().size(), 1u); // still attached
}

} // namespace
} // namespace nvmecuse::testing
