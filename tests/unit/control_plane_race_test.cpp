// The controller manager under concurrency (service/controller_manager.cpp):
// a detach while a caller keeps issuing ioctls, attaches and detaches from
// two control-socket clients at once. Concurrency tier (TSan).
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "nvmecuse/cuse/claim.hpp"

#include "control_plane_fixture.hpp"
#include "fake_cuse_kernel.hpp"

namespace nvmecuse::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

nvme_admin_cmd identify_controller(void* buffer)
{
    nvme_admin_cmd cmd{};
    cmd.opcode = 0x06;
    cmd.addr = reinterpret_cast<std::uintptr_t>(buffer);
    cmd.data_len = 4096;
    cmd.cdw10 = 1; // CNS 01h
    return cmd;
}

class ControlPlaneRace : public ControlPlaneFixture {};

TEST_F(ControlPlaneRace, DetachDuringIoEndsTheCallerAndReleasesTheIndex)
{
    auto attached = manager_->attach_emulated({});
    ASSERT_TRUE(attached) << attached.error().message;
    ASSERT_EQ(attached->name, "nvme0");
    FakeCuseKernel kernel(take_kernel_end("nvmecuse/nvme0"));
    ASSERT_TRUE(kernel.init());
    auto fh = kernel.open(O_RDWR);
    ASSERT_TRUE(fh);

    std::atomic<unsigned> answered{0};
    std::atomic<int> failure{0};
    std::thread reader([&] {
        std::vector<std::byte> buffer(4096);
        for (;;) {
            auto cmd = identify_controller(buffer.data());
            const auto r = kernel.ioctl(*fh, NVME_IOCTL_ADMIN_CMD, &cmd);
            if (r.ret != 0) {
                failure = r.error;
                return;
            }
            ++answered;
        }
    });
    const auto started = std::chrono::steady_clock::now();
    while (answered < 20 && std::chrono::steady_clock::now() - started < 10s)
        std::this_thread::sleep_for(1ms);
    ASSERT_GE(answered.load(), 20u);

    const auto before = std::chrono::steady_clock::now();
    ASSERT_TRUE(manager_->detach("nvme0", 200ms));
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    reader.join();
    // In flight: ENODEV from the node. After: the channel is gone, which
    // the fake kernel reports as ENOTCONN (no answer) or EIO (it could not
    // even send the request).
    EXPECT_TRUE(failure == ENODEV || failure == ENOTCONN || failure == EIO) << failure;
    EXPECT_TRUE(kernel.wait_closed());
    EXPECT_TRUE(manager_->list().empty());
    EXPECT_FALSE(manager_->find("nvme0"));

    // The index is free: a claim of it succeeds, and the next attach reuses it.
    {
        auto claim = cuse::IndexClaim::claim_exact(manager_->serve_options().lock_directory, 0);
        EXPECT_TRUE(claim) << claim.error().message();
    }
    auto again = manager_->attach_emulated({});
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->name, "nvme0");
}

TEST_F(ControlPlaneRace, DetachOfOneControllerLeavesTheOtherServing)
{
    ASSERT_TRUE(manager_->attach_emulated({}));
    ASSERT_TRUE(manager_->attach_emulated({}));
    FakeCuseKernel kernel(take_kernel_end("nvmecuse/nvme1"));
    ASSERT_TRUE(kernel.init());
    auto fh = kernel.open(O_RDWR);
    ASSERT_TRUE(fh);
    ASSERT_TRUE(manager_->detach("nvme0"));
    std::vector<std::byte> buffer(4096);
    auto cmd = identify_controller(buffer.data());
    EXPECT_EQ(kernel.ioctl(*fh, NVME_IOCTL_ADMIN_CMD, &cmd).ret, 0);
    const auto list = manager_->list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].name, "nvme1");
    EXPECT_EQ(list[0].state, "live");
    EXPECT_EQ(list[0].activity, "");
}

TEST_F(ControlPlaneRace, AttachAndDetachFromTwoClientsAtOnce)
{
    serve();
    constexpr int attaches = 12;
    std::atomic<bool> attaching_done{false};
    std::vector<std::string> attached;
    std::atomic<int> attach_failures{0};
    std::thread attacher([&] {
        auto c = client();
        for (int i = 0; i < attaches; ++i) {
            auto r = c.call("controller_attach", {{"trtype", "emulated"}});
            if (!r || r->size() != 1) {
                ADD_FAILURE() << "attach " << i << ": "
                              << (r ? r->dump() : r.error().message + " / " + r.error().error.message);
                ++attach_failures;
                continue;
            }
            attached.push_back((*r)[0]["name"].get<std::string>());
        }
        attaching_done = true;
    });
    std::set<std::string> detached;
    int unexpected_errors = 0;
    std::thread detacher([&] {
        auto c = client();
        for (;;) {
            const bool last_round = attaching_done.load();
            auto list = c.call("controller_list");
            if (!list) {
                ++unexpected_errors;
                return;
            }
            for (const auto& controller : *list) {
                const auto name = controller["name"].get<std::string>();
                auto r = c.call("controller_detach", {{"name", name}, {"grace_ms", 100}});
                if (r)
                    detached.insert(name);
                else if (r.error().error.code != -ENODEV)
                    ++unexpected_errors;
            }
            if (last_round && list->empty()) return;
        }
    });
    attacher.join();
    detacher.join();
    EXPECT_EQ(attach_failures.load(), 0);
    EXPECT_EQ(unexpected_errors, 0);
    EXPECT_EQ(attached.size(), static_cast<std::size_t>(attaches));
    EXPECT_TRUE(manager_->list().empty());
    // Every index came back: nothing is left in the lock directory.
    EXPECT_TRUE(std::filesystem::is_empty(manager_->serve_options().lock_directory));
    EXPECT_FALSE(detached.empty());
}

} // namespace
} // namespace nvmecuse::testing
