// A persistent discovery controller as a controller of the control plane,
// against the in-process NVMe/TCP target (its discovery controller lists
// its own subsystem): controller_list shows it with what it attached, a
// detach of it takes those too, with nodes it has a controller node that
// answers nvme id-ctrl and nvme get-log --log-id=0x70, save_config keeps it (not them) and
// replays into the same controllers, its Keep Alive Timeout defaults to
// nvme-cli's 30 s; SPDK's bdev_nvme_start_discovery, _stop_discovery and
// _get_discovery_info; discovery_log reading a log without attaching;
// referrals to another target followed (persistent or once), a referral
// back being a loop; and a detach racing list() and the watcher.
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/spec/discovery.hpp"

#include "control_plane_fixture.hpp"
#include "discovery_log_records.hpp"
#include "fake_cuse_kernel.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::service {
namespace {

using nlohmann::json;

constexpr const char* subsystem_nqn = "nqn.2026-11.io.nvmecuse:test";
constexpr const char* referred_nqn = "nqn.2026-12.io.nvmecuse:referred";

using testing::record;

class ControlPlaneDiscovery : public nvmecuse::testing::ControlPlaneFixture {
protected:
    tcp_test::TestTarget target;

    /// The target's log lists its own subsystem (and `more`); then serves.
    void list_subsystem(std::vector<nvme::DiscoveryLogEntry> more = {})
    {
        more.insert(more.begin(), record(nvme::DiscoverySubsystemType::nvm, subsystem_nqn,
                                         "127.0.0.1", target.port_string()));
        target.set_discovery(std::move(more));
        serve();
    }

    json discovery_params(json more = json::object()) const
    {
        json p{{"trtype", "tcp"},
               {"traddr", "127.0.0.1"},
               {"trsvcid", target.port_string()},
               {"nodes", false},
               {"persistent", true}};
        p.update(more);
        return p;
    }

    /// controller_attach of the persistent discovery controller; its answer.
    json attach_discovery(json more = json::object())
    {
        auto attached = client().call("controller_attach", discovery_params(std::move(more)));
        EXPECT_TRUE(attached) << attached.error().error.message;
        return attached ? *attached : json();
    }

    json controller_list()
    {
        auto listed = client().call("controller_list", json::object());
        EXPECT_TRUE(listed) << listed.error().error.message;
        return listed ? *listed : json::array();
    }
};

TEST_F(ControlPlaneDiscovery, ListShowsTheDiscoveryControllerWithWhatItAttached)
{
    list_subsystem();
    const json answer = attach_discovery({{"name", "disc"}});
    ASSERT_EQ(answer.size(), 2u); // the discovery controller first, then what it attached
    EXPECT_EQ(answer[0]["name"], "disc");
    const json listed = controller_list();
    ASSERT_EQ(listed.size(), 2u);
    const json& disc = listed[0]["name"] == "disc" ? listed[0] : listed[1];
    const json& child = listed[0]["name"] == "disc" ? listed[1] : listed[0];
    EXPECT_TRUE(disc["discovery"].get<bool>());
    EXPECT_EQ(disc["state"], "live");
    EXPECT_EQ(disc["trid"]["traddr"], "127.0.0.1");
    EXPECT_EQ(disc["trid"]["trsvcid"], target.port_string());
    EXPECT_TRUE(disc["nodes"].empty());
    EXPECT_EQ(disc["discovered"], json::array({child["name"]}));
    EXPECT_TRUE(disc["discovered_by"].is_null());
    EXPECT_FALSE(child["discovery"].get<bool>());
    EXPECT_EQ(child["discovered_by"], "disc");
    EXPECT_EQ(child["trid"]["subnqn"], subsystem_nqn);
    EXPECT_FALSE(child.contains("discovered"));
}

TEST_F(ControlPlaneDiscovery, DetachingItDetachesWhatItAttachedAndStopsFollowing)
{
    list_subsystem();
    attach_discovery({{"name", "disc"}});
    ASSERT_TRUE(client().call("controller_detach", {{"name", "disc"}}));
    EXPECT_TRUE(controller_list().empty());
    EXPECT_TRUE(target.shutdown_seen.load());
    // Its index is free again: the next attach gets nvme0.
    auto again = client().call("controller_attach", discovery_params());
    ASSERT_TRUE(again) << again.error().error.message;
    EXPECT_EQ((*again)[0]["name"], "nvme0");
}

TEST_F(ControlPlaneDiscovery, DetachingWhatItAttachedLeavesIt)
{
    list_subsystem();
    const json answer = attach_discovery();
    ASSERT_EQ(answer.size(), 2u);
    const std::string child = answer[1]["name"];
    ASSERT_TRUE(client().call("controller_detach", {{"name", child}}));
    const json listed = controller_list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_TRUE(listed[0]["discovery"].get<bool>());
    EXPECT_TRUE(listed[0]["discovered"].empty());
}

TEST_F(ControlPlaneDiscovery, SaveConfigKeepsItNotWhatItAttachedAndReplaysBoth)
{
    list_subsystem();
    attach_discovery({{"name", "disc"}});
    const json saved = rpc::save_config(*manager_);
    std::vector<json> attaches;
    for (const auto& call : saved["subsystems"][0]["config"])
        if (call["method"] == "controller_attach") attaches.push_back(call["params"]);
    ASSERT_EQ(attaches.size(), 1u) << saved.dump();
    EXPECT_EQ(attaches[0]["name"], "disc");
    EXPECT_EQ(attaches[0]["persistent"], true);
    EXPECT_EQ(attaches[0]["nodes"], false);
    EXPECT_EQ(attaches[0]["kato"], 30);
    EXPECT_FALSE(attaches[0].contains("subnqn"));

    manager_->detach_all();
    ASSERT_TRUE(manager_->list().empty());
    auto replayed = rpc::replay_config(saved, dispatcher_, defaults_);
    ASSERT_TRUE(replayed) << replayed.error();
    const auto listed = manager_->list();
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_TRUE(listed[0].discovery);
    EXPECT_EQ(listed[1].discovered_by, "disc");
    EXPECT_TRUE(listed[1].nodes.empty());
}

TEST_F(ControlPlaneDiscovery, KeepAliveDefaultsToNvmeClisThirtySecondsUnlessGiven)
{
    serve(); // an empty log: only the discovery controller connects
    ASSERT_EQ(attach_discovery().size(), 1u);
    EXPECT_EQ(target.kato.load(), 30'000u);
    manager_->detach_all();
    ASSERT_EQ(attach_discovery({{"kato", 7}}).size(), 1u);
    EXPECT_EQ(target.kato.load(), 7'000u);
}

TEST_F(ControlPlaneDiscovery, LostPastCtrlLossTmoItIsRemovedAndWhatItAttachedStays)
{
    tcp_test::TestTarget subsystem; // another target, which stays up
    target.set_discovery({record(nvme::DiscoverySubsystemType::nvm, subsystem_nqn, "127.0.0.1",
                                 subsystem.port_string())});
    serve();
    const json answer = attach_discovery({{"name", "disc"}, {"ctrl_loss_tmo", 1},
                                          {"reconnect_delay", 1}});
    ASSERT_EQ(answer.size(), 2u);
    const std::string child = answer[1]["name"];
    target.refuse_connections(true);
    target.drop_connections();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (manager_->find("disc") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(manager_->find("disc")); // deleted, as Linux deletes it
    const auto left = manager_->find(child);
    ASSERT_TRUE(left);
    EXPECT_EQ(left->state, "live");
    // No discovery controller attaches it again now: save_config keeps it.
    const json saved = rpc::save_config(*manager_);
    std::size_t attaches = 0;
    for (const auto& call : saved["subsystems"][0]["config"])
        attaches += call["method"] == "controller_attach" ? 1 : 0;
    EXPECT_EQ(attaches, 1u);
}

TEST_F(ControlPlaneDiscovery, RescanAndNodesAreRefusedForIt)
{
    serve();
    attach_discovery({{"name", "disc"}});
    auto rescan = client().call("rescan", {{"name", "disc"}});
    ASSERT_FALSE(rescan);
    EXPECT_EQ(rescan.error().error.code, -EINVAL);
    auto nodes = client().call("bdev_nvme_cuse_register", {{"name", "disc"}});
    ASSERT_FALSE(nodes);
    EXPECT_EQ(nodes.error().error.code, -EINVAL);
    EXPECT_TRUE(client().call("controller_reset", {{"name", "disc"}}));
}

TEST_F(ControlPlaneDiscovery, SpdkStartGetAndStopDiscovery)
{
    tcp_test::TestTarget referred; // an empty log
    list_subsystem(
        {record(nvme::DiscoverySubsystemType::referral, "nqn.2014-08.org.nvmexpress.discovery",
                "127.0.0.1", referred.port_string())});
    auto c = client();
    const json start{{"name", "disc"},           {"trtype", "TCP"},
                     {"traddr", "127.0.0.1"},     {"adrfam", "IPv4"},
                     {"trsvcid", target.port_string()}, {"wait_for_attach", true},
                     {"ctrlr_loss_timeout_sec", 30}, {"reconnect_delay_sec", 2}};
    auto started = c.call("bdev_nvme_start_discovery", start);
    ASSERT_TRUE(started) << started.error().error.message;
    EXPECT_EQ(*started, true);

    auto info = c.call("bdev_nvme_get_discovery_info", json::object());
    ASSERT_TRUE(info) << info.error().error.message;
    ASSERT_EQ(info->size(), 1u);
    const json& d = (*info)[0];
    EXPECT_EQ(d["name"], "disc");
    EXPECT_EQ(d["trid"]["trtype"], "TCP");
    EXPECT_EQ(d["trid"]["traddr"], "127.0.0.1");
    EXPECT_EQ(d["trid"]["subnqn"], "nqn.2014-08.org.nvmexpress.discovery");
    ASSERT_EQ(d["referrals"].size(), 1u);
    EXPECT_EQ(d["referrals"][0]["trid"]["trsvcid"], referred.port_string());
    EXPECT_EQ(referred.admin_connects.load(), 1); // followed
    ASSERT_EQ(d["controllers"].size(), 1u);

    // What it attached has nodes (SPDK would make bdevs), and is a controller
    // of bdev_nvme_get_controllers; the discovery service is not.
    const auto child = manager_->find(d["controllers"][0].get<std::string>());
    ASSERT_TRUE(child);
    EXPECT_FALSE(child->nodes.empty());
    EXPECT_EQ(child->tcp.ctrl_loss_tmo.count(), 30);
    EXPECT_EQ(child->tcp.reconnect_delay.count(), 2);
    auto controllers = c.call("bdev_nvme_get_controllers", json::object());
    ASSERT_TRUE(controllers);
    ASSERT_EQ(controllers->size(), 1u);
    EXPECT_EQ((*controllers)[0]["name"], child->name);

    // It is no bdev_nvme controller: SPDK's controller methods do not know it.
    auto named = c.call("bdev_nvme_get_controllers", {{"name", "disc"}});
    ASSERT_FALSE(named);
    EXPECT_EQ(named.error().error.code, -ENODEV);
    auto detached = c.call("bdev_nvme_detach_controller", {{"name", "disc"}});
    ASSERT_FALSE(detached);
    EXPECT_EQ(detached.error().error.code, -ENODEV);

    auto twice = c.call("bdev_nvme_start_discovery", {{"name", "other"}, {"trtype", "tcp"},
                                                      {"traddr", "127.0.0.1"},
                                                      {"trsvcid", target.port_string()}});
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().error.code, -EEXIST);

    ASSERT_TRUE(c.call("bdev_nvme_stop_discovery", {{"name", "disc"}}));
    EXPECT_TRUE(manager_->list().empty());
    auto gone = c.call("bdev_nvme_stop_discovery", {{"name", "disc"}});
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().error.code, -ENOENT);
}

TEST_F(ControlPlaneDiscovery, ReferralsAreFollowedAcrossTargetsEachOnce)
{
    tcp_test::TestTarget other; // lists its own subsystem, and refers back
    other.set_discovery(
        {record(nvme::DiscoverySubsystemType::nvm, referred_nqn, "127.0.0.1", other.port_string()),
         record(nvme::DiscoverySubsystemType::referral, std::string(transport::discovery_nqn),
                "127.0.0.1", target.port_string())});
    list_subsystem(
        {record(nvme::DiscoverySubsystemType::referral, std::string(transport::discovery_nqn),
                "127.0.0.1", other.port_string())});
    const json answer = attach_discovery({{"name", "disc"}});
    ASSERT_EQ(answer.size(), 3u); // the discovery controller, its subsystem, the referred one
    const auto listed = manager_->list();
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].discovered.size(), 2u);
    EXPECT_EQ(listed[2].transport_id.trsvcid, other.port_string());
    EXPECT_EQ(listed[2].transport_id.subnqn, referred_nqn);
    EXPECT_EQ(listed[2].discovered_by, "disc");
    const json disc = controller_list()[0];
    ASSERT_EQ(disc["referrals"].size(), 1u);
    EXPECT_EQ(disc["referrals"][0]["trsvcid"], other.port_string());
    EXPECT_EQ(target.admin_connects.load(), 2); // the referral back to it is a loop
    EXPECT_EQ(other.admin_connects.load(), 2);  // its discovery controller, its subsystem
    EXPECT_FALSE(other.shutdown_seen.load());   // kept connected
    ASSERT_TRUE(client().call("controller_detach", {{"name", "disc"}}));
    EXPECT_TRUE(other.shutdown_seen.load());
    EXPECT_TRUE(manager_->list().empty());
}

TEST_F(ControlPlaneDiscovery, AttachingOnceFollowsReferralsOnce)
{
    tcp_test::TestTarget other;
    other.set_discovery({record(nvme::DiscoverySubsystemType::nvm, referred_nqn, "127.0.0.1",
                                other.port_string())});
    target.set_discovery(
        {record(nvme::DiscoverySubsystemType::referral, std::string(transport::discovery_nqn),
                "127.0.0.1", other.port_string())});
    serve();
    auto attached = client().call("controller_attach", {{"trtype", "tcp"},
                                                        {"traddr", "127.0.0.1"},
                                                        {"trsvcid", target.port_string()},
                                                        {"nodes", false}});
    ASSERT_TRUE(attached) << attached.error().error.message;
    const auto listed = manager_->list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].transport_id.trsvcid, other.port_string());
    EXPECT_EQ(listed[0].transport_id.subnqn, referred_nqn);
    EXPECT_EQ(other.admin_connects.load(), 2);
    EXPECT_TRUE(other.shutdown_seen.load()); // the referred discovery controller was let go
    EXPECT_TRUE(target.shutdown_seen.load());
}

TEST_F(ControlPlaneDiscovery, ItsControllerNodeServesIdentifyAndTheDiscoveryLog)
{
    list_subsystem();
    const json answer = attach_discovery({{"name", "disc"}, {"nodes", true}});
    ASSERT_EQ(answer.size(), 2u);
    const auto disc = manager_->find("disc");
    ASSERT_TRUE(disc);
    ASSERT_EQ(disc->nodes.size(), 1u); // a controller node, no namespace node
    EXPECT_EQ(disc->nodes[0].devname, "nvmecuse/nvme0");
    EXPECT_EQ(controller_list()[0]["node"], "/dev/nvmecuse/nvme0");

    testing::FakeCuseKernel kernel(take_kernel_end("nvmecuse/nvme0"));
    ASSERT_TRUE(kernel.init());
    auto fh = kernel.open(O_RDWR);
    ASSERT_TRUE(fh);
    // nvme id-ctrl
    std::vector<std::byte> data(4096);
    nvme_admin_cmd identify{};
    identify.opcode = 0x06;
    identify.addr = reinterpret_cast<std::uintptr_t>(data.data());
    identify.data_len = 4096;
    identify.cdw10 = 1; // CNS 01h
    auto r = kernel.ioctl(*fh, NVME_IOCTL_ADMIN_CMD, &identify);
    ASSERT_EQ(r.ret, 0) << r.error;
    nvme::IdentifyController id;
    std::memcpy(&id, data.data(), sizeof id);
    EXPECT_EQ(id.cntrltype, 2); // a discovery controller
    EXPECT_STREQ(id.subnqn.data(), transport::discovery_nqn.data());
    // nvme get-log --log-id=0x70 --log-len=2048: the header and one record
    std::vector<std::byte> log(2048);
    nvme_admin_cmd get_log{};
    get_log.opcode = 0x02;
    get_log.nsid = 0xffffffff;
    get_log.addr = reinterpret_cast<std::uintptr_t>(log.data());
    get_log.data_len = 2048;
    get_log.cdw10 = 0x70 | ((2048 / 4 - 1) << 16);
    r = kernel.ioctl(*fh, NVME_IOCTL_ADMIN_CMD, &get_log);
    ASSERT_EQ(r.ret, 0) << r.error;
    nvme::DiscoveryLogHeader header;
    std::memcpy(&header, log.data(), sizeof header);
    EXPECT_EQ(header.numrec, 1u);
    nvme::DiscoveryLogEntry entry;
    std::memcpy(&entry, log.data() + sizeof header, sizeof entry);
    EXPECT_STREQ(entry.subnqn.data(), subsystem_nqn);
    // I/O passthrough on a controller node without namespaces: ENOTTY, as
    // Linux's nvme_dev_user_cmd().
    nvme_passthru_cmd io{};
    io.opcode = 0x02;
    io.nsid = 1;
    io.addr = reinterpret_cast<std::uintptr_t>(data.data());
    io.data_len = 512;
    r = kernel.ioctl(*fh, NVME_IOCTL_IO_CMD, &io);
    EXPECT_EQ(r.ret, -1);
    EXPECT_EQ(r.error, ENOTTY);

    ASSERT_TRUE(client().call("controller_detach", {{"name", "disc"}}));
    EXPECT_TRUE(kernel.wait_closed()); // its node went with it
}

TEST_F(ControlPlaneDiscovery, SpdkStartDiscoveryRefusesWhatItCannotHonour)
{
    serve();
    auto c = client();
    const json base{{"name", "disc"}, {"trtype", "tcp"}, {"traddr", "127.0.0.1"},
                    {"trsvcid", target.port_string()}};
    for (const auto& [key, value] : {std::pair{"psk", json("NVMeTLSkey-1:01:abc:")},
                                     std::pair{"dhchap_key", json("key0")},
                                     std::pair{"subnqn", json(subsystem_nqn)},
                                     std::pair{"trtype", json("PCIe")}}) {
        json p = base;
        p[key] = value;
        auto refused = c.call("bdev_nvme_start_discovery", p);
        ASSERT_FALSE(refused) << key;
        EXPECT_NE(refused.error().error.message.find(key == std::string("trtype") ? "PCIe" : key),
                  std::string::npos)
            << refused.error().error.message;
    }
    EXPECT_TRUE(manager_->list().empty());
    EXPECT_EQ(target.admin_connects.load(), 0);
}

TEST_F(ControlPlaneDiscovery, SpdkAttachTimeoutBoundsTheConnection)
{
    serve();
    target.silence_connections(true); // accepts, never answers ICReq
    const auto started = std::chrono::steady_clock::now();
    auto refused = client().call("bdev_nvme_start_discovery",
                                 {{"name", "disc"}, {"trtype", "tcp"}, {"traddr", "127.0.0.1"},
                                  {"trsvcid", target.port_string()}, {"wait_for_attach", true},
                                  {"attach_timeout_ms", 300}, {"ctrlr_loss_timeout_sec", 0},
                                  {"reconnect_delay_sec", 0}});
    const auto took = std::chrono::steady_clock::now() - started;
    target.silence_connections(false);
    ASSERT_FALSE(refused);
    EXPECT_LT(took, std::chrono::milliseconds(2'000)); // the connect timeout is 3 s otherwise
    EXPECT_TRUE(manager_->list().empty());
}

TEST_F(ControlPlaneDiscovery, DiscoveryLogListsTheRecordsAsNvmeDiscoverAndAttachesNothing)
{
    list_subsystem({record(nvme::DiscoverySubsystemType::referral,
                           "nqn.2014-08.org.nvmexpress.discovery", "192.0.2.9", "8009")});
    auto c = client();
    auto log = c.call("discovery_log", {{"trtype", "tcp"}, {"traddr", "127.0.0.1"},
                                        {"trsvcid", target.port_string()}});
    ASSERT_TRUE(log) << log.error().error.message;
    const json& records = (*log)["records"];
    ASSERT_EQ(records.size(), 2u) << log->dump();
    EXPECT_TRUE((*log)["genctr"].is_number_unsigned()) << log->dump();
    EXPECT_EQ(records[0], (json{{"trtype", "tcp"},
                                {"adrfam", "ipv4"},
                                {"subtype", "nvme subsystem"},
                                {"treq", "not specified"},
                                {"portid", 0},
                                {"trsvcid", target.port_string()},
                                {"subnqn", subsystem_nqn},
                                {"traddr", "127.0.0.1"},
                                {"eflags", "none"},
                                {"sectype", "none"}}));
    EXPECT_EQ(records[1]["subtype"], "discovery subsystem referral");
    EXPECT_EQ(records[1]["traddr"], "192.0.2.9");
    EXPECT_TRUE(manager_->list().empty());
    EXPECT_EQ(target.admin_connects.load(), 1); // one association, no I/O controller

    // An I/O controller's transport ID: -EINVAL; a typo or an emulated
    // controller: -32602; nothing listening: -EIO.
    auto io = c.call("discovery_log", {{"trtype", "tcp"}, {"traddr", "127.0.0.1"},
                                       {"trsvcid", target.port_string()}, {"subnqn", subsystem_nqn}});
    ASSERT_FALSE(io);
    EXPECT_EQ(io.error().error.code, -EINVAL);
    EXPECT_NE(io.error().error.message.find("not a discovery controller"), std::string::npos);
    auto typo = c.call("discovery_log", {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"nodes", false}});
    ASSERT_FALSE(typo);
    EXPECT_EQ(typo.error().error.code, rpc::error_code::invalid_params);
    auto emulated = c.call("discovery_log", {{"trtype", "emulated"}});
    ASSERT_FALSE(emulated);
    EXPECT_EQ(emulated.error().error.code, rpc::error_code::invalid_params);
    auto nobody = c.call("discovery_log", {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"trsvcid", "1"}});
    ASSERT_FALSE(nobody);
    EXPECT_EQ(nobody.error().error.code, -EIO);
}

TEST_F(ControlPlaneDiscovery, DetachRacesListAndTheWatcher)
{
    list_subsystem();
    for (int round = 0; round < 5; ++round) {
        AttachRequest request;
        request.nodes = false;
        transport::TransportId id;
        id.trtype = "tcp";
        id.adrfam = "ipv4";
        id.traddr = "127.0.0.1";
        id.trsvcid = target.port_string();
        auto tcp = defaults_;
        tcp.persistent = true;
        auto attached = manager_->attach(id, tcp, request);
        ASSERT_TRUE(attached) << attached.error().message;
        const std::string name = (*attached)[0].name;
        std::atomic<bool> done{false};
        std::thread lister([&] {
            while (!done.load()) {
                for (const auto& c : manager_->list()) {
                    if (c.discovery) {
                        EXPECT_EQ(c.name, name);
                    }
                }
                (void)manager_->find(name);
            }
        });
        std::thread resetter([&] { (void)manager_->reset(name); });
        EXPECT_TRUE(manager_->detach(name));
        resetter.join();
        done = true;
        lister.join();
        EXPECT_TRUE(manager_->list().empty()) << "round " << round;
    }
}

} // namespace
} // namespace nvmecuse::service
