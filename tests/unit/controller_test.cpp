// ctrlr::Controller against the scriptable fake transport.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"

#include "fake_transport.hpp"

namespace nvmecuse::ctrlr {
namespace {

using namespace std::chrono_literals;
using nvme::AdminOpcode;
using testing::FakeState;
using testing::FakeTransport;

constexpr auto bounded = 2s;

template <class Pred> bool wait_for(Pred pred, std::chrono::milliseconds limit = bounded)
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

nvme::SubmissionQueueEntry io_sqe(nvme::NvmOpcode opc, std::uint32_t nsid = 1)
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = static_cast<std::uint8_t>(opc);
    sqe.nsid = nsid;
    return sqe;
}

Command read_4k(std::chrono::milliseconds timeout = 0ms)
{
    auto c = Command::from_opcode(io_sqe(nvme::NvmOpcode::read), DataBuffer(4096));
    c.timeout = timeout;
    return c;
}

Command admin_identify_ctrl()
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(AdminOpcode::identify);
    nvme::cmd::identify::Cns::set(s, 1);
    return Command::from_opcode(s, DataBuffer::zeroed(4096));
}

Controller::Options fast_options()
{
    Controller::Options o;
    o.name = "test";
    o.io_queues = 2;
    return o;
}

struct Fixture : ::testing::Test {
    std::shared_ptr<FakeState> fake = std::make_shared<FakeState>();
    std::unique_ptr<Controller> ctrl;

    void start(Controller::Options o = fast_options())
    {
        auto c = Controller::start(std::make_unique<FakeTransport>(fake), std::move(o));
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ctrl = std::move(*c);
    }

    /// submit() and a future for its Result.
    std::future<Result> submit(QueueKind q, Command c)
    {
        auto p = std::make_shared<std::promise<Result>>();
        auto f = p->get_future();
        ctrl->submit(q, std::move(c), [p](Result&& r) { p->set_value(std::move(r)); });
        return f;
    }
};

template <class T> bool ready(std::future<T>& f, std::chrono::milliseconds limit = bounded)
{
    return f.wait_for(limit) == std::future_status::ready;
}

/// Controller::subsystem_reset() and its outcome; `timed_out` when `done`
/// never ran.
std::error_code subsystem_reset(Controller& ctrl)
{
    std::promise<std::error_code> done;
    auto f = done.get_future();
    ctrl.subsystem_reset([&](std::error_code ec) { done.set_value(ec); });
    return ready(f) ? f.get() : std::make_error_code(std::errc::timed_out);
}

// Collects namespace events from the owner thread.
struct EventLog {
    std::mutex mutex;
    std::vector<NamespaceEvent> events;
    void add(const NamespaceEvent& e)
    {
        std::lock_guard l(mutex);
        events.push_back(e);
    }
    bool has(NamespaceEvent::Kind k, std::uint32_t nsid)
    {
        std::lock_guard l(mutex);
        return std::any_of(events.begin(), events.end(),
                           [&](const NamespaceEvent& e) { return e.kind == k && e.nsid == nsid; });
    }
    std::size_t size()
    {
        std::lock_guard l(mutex);
        return events.size();
    }
};

TEST_F(Fixture, StartIssuesTheInitSequence)
{
    fake->namespaces = {{1, 1000}, {3, 2000}};
    fake->granted_io_queues = 3; // more than asked: the core takes min(asked, granted)
    // Every notice the kernel enables, and one it does not (LBA status).
    fake->oaes = nvme::oaes::namespace_attribute | nvme::oaes::firmware_activation |
                 nvme::oaes::ana_change | nvme::oaes::discovery_log_page_change |
                 nvme::oaes::lba_status_information;
    start();

    std::vector<std::pair<std::uint8_t, std::uint32_t>> seen; // opcode, cdw10
    {
        auto l = fake->lock();
        for (const auto& c : fake->submitted) {
            EXPECT_EQ(c.qid, 0);
            seen.emplace_back(c.sqe.opc, c.sqe.cdw10);
        }
        EXPECT_EQ(fake->enables, 1);
        EXPECT_EQ(fake->created_io_queues, 2);
    }
    const auto id = static_cast<std::uint8_t>(AdminOpcode::identify);
    const auto sf = static_cast<std::uint8_t>(AdminOpcode::set_features);
    const auto aer = static_cast<std::uint8_t>(AdminOpcode::async_event_request);
    const std::vector<std::pair<std::uint8_t, std::uint32_t>> expected{
        {id, 1},                                  // Identify Controller
        {sf, 7},                                  // Number of Queues
        {id, 2},                                  // Active Namespace List
        {id, 0},                                  // Identify Namespace 1
        {id, 0},                                  // Identify Namespace 3
        {sf, 0x0b},                               // Asynchronous Event Configuration
        {aer, 0},   {aer, 0}, {aer, 0}, {aer, 0}, // min(4, AERL+1 = 4)
    };
    EXPECT_EQ(seen, expected);
    const auto nq = fake->admin_commands(AdminOpcode::set_features)[0];
    EXPECT_EQ(nq.cdw11, 0x00010001u) << "2 queues requested, 0's based";
    const auto aec = fake->admin_commands(AdminOpcode::set_features)[1];
    EXPECT_EQ(aec.cdw11, 0x80000b00u)
        << "namespace attribute, firmware, ANA and discovery notices only, as nvme_enable_aen()";
    EXPECT_EQ(fake->outstanding_aers(), 4u);

    auto info = ctrl->info();
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->generation, 1u);
    ASSERT_EQ(info->namespaces.size(), 2u);
    EXPECT_EQ(info->namespaces.at(3).lba_data_size, 512u);
    EXPECT_EQ(info->namespaces.at(3).size_bytes(), 2000u * 512u);
    EXPECT_EQ(info->id.aerl, 3);
    EXPECT_EQ(ctrl->transport_info().name, "fake");
}

TEST_F(Fixture, AersCappedByAerl)
{
    fake->aerl = 0;
    start();
    EXPECT_EQ(fake->outstanding_aers(), 1u);
}

TEST_F(Fixture, StartFailsWhenEnableFails)
{
    fake->enable_fails = true;
    auto c = Controller::start(std::make_unique<FakeTransport>(fake), fast_options());
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), std::errc::io_error);
}

TEST_F(Fixture, OutOfDescriptorsIsAnErrorNotAnAbort)
{
    // A start and stop first: what the process sets up once (the logger,
    // the sanitizers' type caches, which read /proc when cold) is done
    // while descriptors are still there.
    start();
    ctrl.reset();
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    const int lowest_free = ::dup(0);
    ASSERT_GE(lowest_free, 0);
    ::close(lowest_free);
    rlimit none = old;
    none.rlim_cur = static_cast<rlim_t>(lowest_free); // no new descriptor at all
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
    auto c = Controller::start(std::make_unique<FakeTransport>(fake), fast_options());
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), std::errc::too_many_files_open);
    start(); // and with descriptors again, it starts
}

TEST_F(Fixture, ExecuteAdminAndIo)
{
    start();
    auto id = Command::from_opcode(
        [] {
            nvme::SubmissionQueueEntry s{};
            s.opc = static_cast<std::uint8_t>(AdminOpcode::identify);
            s.cdw10 = 1;
            return s;
        }(),
        DataBuffer::zeroed(4096));
    auto r = ctrl->execute(QueueKind::admin, std::move(id));
    ASSERT_TRUE(r.ok()) << r.error.message();
    ASSERT_EQ(r.data.size(), 4096u);
    EXPECT_EQ(nvme::trimmed(r.data.as<nvme::IdentifyController>().mn), "fake controller");

    auto io = ctrl->execute(QueueKind::io, read_4k());
    ASSERT_TRUE(io.ok());
    ASSERT_EQ(io.data.size(), 4096u);
    EXPECT_EQ(io.data.data()[4095], std::byte{0xa5});
}

TEST_F(Fixture, ErrorStatusIsReported)
{
    start();
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(AdminOpcode::identify);
    s.cdw10 = 0x55; // a CNS the fake refuses
    auto r = ctrl->execute(QueueKind::admin, Command::from_opcode(s, DataBuffer::zeroed(4096)));
    EXPECT_TRUE(r.completed());
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status, nvme::Status(nvme::GenericStatus::invalid_field));
}

TEST_F(Fixture, SubmitFromManyThreadsCallsEveryHandlerOnce)
{
    start();
    constexpr int threads = 4, per_thread = 2000;
    std::vector<std::atomic<int>> calls(threads * per_thread);
    std::atomic<int> total{0}, failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const int id = t * per_thread + i;
                ctrl->submit(QueueKind::io, read_4k(), [&, id](Result&& r) {
                    if (!r.ok() || r.data.size() != 4096) ++failures;
                    ++calls[static_cast<std::size_t>(id)];
                    ++total;
                });
            }
        });
    for (auto& t : pool)
        t.join();
    ASSERT_TRUE(wait_for([&] { return total.load() == threads * per_thread; })) << total.load();
    std::this_thread::sleep_for(5ms); // nothing completes twice
    EXPECT_EQ(failures.load(), 0);
    for (auto& c : calls)
        ASSERT_EQ(c.load(), 1);
    // Both I/O queues were used.
    auto l = fake->lock();
    std::set<std::uint16_t> qids;
    for (const auto& c : fake->submitted)
        qids.insert(c.qid);
    EXPECT_TRUE(qids.contains(1) && qids.contains(2));
}

TEST_F(Fixture, BidirectionalCommandIsRefused)
{
    start();
    nvme::SubmissionQueueEntry s{};
    s.opc = 0x03; // bits 1:0 = 11b
    auto c = Command::from_opcode(s, DataBuffer(512));
    ASSERT_EQ(c.direction, nvme::DataTransfer::bidirectional);
    auto r = ctrl->execute(QueueKind::io, std::move(c));
    EXPECT_EQ(r.error, std::errc::invalid_argument);
    EXPECT_EQ(r.data.size(), 512u) << "buffers are handed back";
    auto l = fake->lock();
    for (const auto& sub : fake->submitted)
        EXPECT_NE(sub.sqe.opc, 0x03);
}

TEST_F(Fixture, ExecuteOnOwnerThreadIsRefused)
{
    start();
    std::promise<std::error_code> p;
    auto f = p.get_future();
    ctrl->submit(QueueKind::io, read_4k(),
                 [&](Result&&) { p.set_value(ctrl->execute(QueueKind::io, read_4k()).error); });
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get(), std::errc::resource_deadlock_would_occur);
}

TEST_F(Fixture, TimeoutCompletesWithTimedOutAbortsAndSwallowsLateCompletion)
{
    fake->io_mode = FakeState::IoMode::hold;
    start(); // (AER count etc. irrelevant here)
    // The second timeout (a reset) comes one timeout after the abort: long
    // enough for this thread to release the command on a loaded machine.
    auto f = submit(QueueKind::io, read_4k(250ms));
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) == 1; }));
    std::uint16_t cid;
    {
        auto l = fake->lock();
        cid = fake->submitted.back().sqe.cid;
    }
    ASSERT_TRUE(ready(f));
    auto r = f.get();
    EXPECT_EQ(r.error, std::errc::timed_out);
    EXPECT_TRUE(r.data.empty())
        << "the transport may still write the buffers: they stay with the core";

    ASSERT_TRUE(wait_for([&] { return !fake->admin_commands(AdminOpcode::abort).empty(); }));
    const auto abort = fake->admin_commands(AdminOpcode::abort).front();
    EXPECT_EQ(nvme::cmd::abort::Sqid::get(abort), 1u);
    EXPECT_EQ(nvme::cmd::abort::Cid::get(abort), cid);

    // The late completion is swallowed; the cid becomes usable again.
    EXPECT_EQ(fake->release(1), 1u);
    {
        auto l = fake->lock();
        fake->io_mode = FakeState::IoMode::complete;
    }
    for (int i = 0; i < 100; ++i) {
        auto again = ctrl->execute(QueueKind::io, read_4k());
        ASSERT_TRUE(again.ok());
    }
    auto l = fake->lock();
    EXPECT_EQ(fake->resets, 0);
}

TEST_F(Fixture, ARepeatedCompletionIsNotTakenForTheCommandThatReusedItsSlot)
{
    fake->granted_io_queues = 1; // one I/O queue: the second command reuses the first's slot
    fake->io_mode = FakeState::IoMode::hold;
    start();
    const auto held_cid = [&] {
        auto l = fake->lock();
        return fake->submitted.back().sqe.cid;
    };
    auto first = submit(QueueKind::io, read_4k());
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) == 1; }));
    const std::uint16_t first_cid = held_cid();
    EXPECT_EQ(fake->release(1), 1u);
    ASSERT_TRUE(ready(first));
    EXPECT_TRUE(first.get().ok());

    auto second = submit(QueueKind::io, read_4k());
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) == 1; }));
    const std::uint16_t second_cid = held_cid();
    EXPECT_EQ(transport::cid_slot(second_cid), transport::cid_slot(first_cid));
    EXPECT_NE(second_cid, first_cid) << "a reused slot goes out under a new generation";
    EXPECT_LT(second_cid, transport::first_transport_cid);

    // The device repeats the first command's completion, with an error,
    // before it completes the second: the repeat must be dropped.
    fake->complete_again(1, first_cid, nvme::Status(nvme::GenericStatus::data_transfer_error));
    EXPECT_EQ(fake->release(1, SIZE_MAX, {}, 0x5a5a), 1u);
    ASSERT_TRUE(ready(second));
    const Result r = second.get();
    EXPECT_TRUE(r.ok()) << nvme::to_string(r.status);
    EXPECT_EQ(r.dw0, 0x5a5au);
}

TEST_F(Fixture, SlotGenerationsCycleBelowTheTransportsCids)
{
    fake->granted_io_queues = 1;
    start();
    for (int i = 0; i < 40; ++i)
        ASSERT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
    auto l = fake->lock();
    std::set<std::uint16_t> cids;
    for (const auto& c : fake->submitted) {
        if (c.qid != 1) continue;
        EXPECT_LT(c.sqe.cid, transport::first_transport_cid);
        EXPECT_EQ(transport::cid_slot(c.sqe.cid), transport::cid_slot(fake->submitted.back().sqe.cid))
            << "one command at a time reuses one slot";
        cids.insert(c.sqe.cid);
    }
    EXPECT_EQ(cids.size(), 15u) << "generations 0..14, each once per 15 uses";
}

TEST_F(Fixture, AbortThatDoesNotHelpResetsAfterSecondTimeout)
{
    fake->io_mode = FakeState::IoMode::hold;
    start();
    auto f = submit(QueueKind::io, read_4k(30ms));
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get().error, std::errc::timed_out);
    ASSERT_TRUE(wait_for([&] {
        auto l = fake->lock();
        return fake->resets == 1 && fake->enables == 2;
    }));
    // Re-initialised: AERs outstanding again, I/O works.
    ASSERT_TRUE(wait_for([&] { return fake->outstanding_aers() == 4; }));
    {
        auto l = fake->lock();
        fake->io_mode = FakeState::IoMode::complete;
    }
    EXPECT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
}

TEST_F(Fixture, FailedAbortResets)
{
    fake->io_mode = FakeState::IoMode::hold;
    fake->abort_status = nvme::Status(nvme::GenericStatus::internal_error);
    start();
    auto f = submit(QueueKind::io, read_4k(30ms));
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get().error, std::errc::timed_out);
    ASSERT_TRUE(wait_for(
        [&] {
            auto l = fake->lock();
            return fake->resets == 1;
        },
        500ms))
        << "well before the second timeout period would have reset anyway";
}

TEST_F(Fixture, AbortedCommandCompletionIsSwallowed)
{
    fake->io_mode = FakeState::IoMode::hold;
    fake->abort_completes_command = true;
    start();
    auto f = submit(QueueKind::io, read_4k(30ms));
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get().error, std::errc::timed_out);
    ASSERT_TRUE(wait_for([&] { return !fake->admin_commands(AdminOpcode::abort).empty(); }));
    std::this_thread::sleep_for(80ms); // past the second timeout period
    auto l = fake->lock();
    EXPECT_EQ(fake->resets, 0) << "the aborted command completed: no reset";
}

TEST_F(Fixture, ResetCancelsOutstandingAndReinitialises)
{
    fake->io_mode = FakeState::IoMode::hold;
    start();
    std::vector<std::future<Result>> pending;
    for (int i = 0; i < 5; ++i)
        pending.push_back(submit(QueueKind::io, read_4k()));
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) + fake->held_count(2) == 5; }));

    std::promise<std::error_code> done;
    auto done_f = done.get_future();
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    ASSERT_TRUE(ready(done_f));
    EXPECT_FALSE(done_f.get());
    for (auto& f : pending) {
        ASSERT_TRUE(ready(f));
        auto r = f.get();
        EXPECT_EQ(r.error, std::errc::operation_canceled);
        EXPECT_EQ(r.data.size(), 4096u);
    }
    {
        auto l = fake->lock();
        EXPECT_EQ(fake->resets, 1);
        EXPECT_EQ(fake->enables, 2);
        EXPECT_EQ(fake->created_io_queues, 4);
        fake->io_mode = FakeState::IoMode::complete;
    }
    EXPECT_EQ(fake->admin_commands(AdminOpcode::identify).size(), 2u * 3u);
    EXPECT_EQ(fake->outstanding_aers(), 4u);
    EXPECT_EQ(ctrl->info()->generation, 1u) << "nothing changed";
    EXPECT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
}

TEST_F(Fixture, FailedReenableLeavesControllerFailedUntilNextReset)
{
    start();
    {
        auto l = fake->lock();
        fake->enable_fails = true;
    }
    std::promise<std::error_code> done;
    auto f = done.get_future();
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get(), std::errc::io_error);
    EXPECT_EQ(ctrl->execute(QueueKind::io, read_4k()).error, std::errc::not_connected);
    EXPECT_EQ(ctrl->execute(QueueKind::admin, admin_identify_ctrl()).error,
              std::errc::not_connected);

    {
        auto l = fake->lock();
        fake->enable_fails = false;
    }
    std::promise<std::error_code> again;
    auto g = again.get_future();
    ctrl->reset([&](std::error_code ec) { again.set_value(ec); });
    ASSERT_TRUE(ready(g));
    EXPECT_FALSE(g.get());
    EXPECT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
}

TEST_F(Fixture, SubsystemResetUnsupportedIsReported)
{
    start();
    EXPECT_EQ(subsystem_reset(*ctrl), std::errc::operation_not_supported);
    auto l = fake->lock();
    EXPECT_EQ(fake->resets, 0);
}

TEST_F(Fixture, CommandsSubmittedDuringResetRunAfterIt)
{
    start();
    std::promise<std::error_code> done;
    auto done_f = done.get_future();
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    auto f = submit(QueueKind::io, read_4k()); // posted after the reset request
    ASSERT_TRUE(ready(done_f));
    EXPECT_FALSE(done_f.get());
    ASSERT_TRUE(ready(f));
    EXPECT_TRUE(f.get().ok());
}

TEST_F(Fixture, NamespaceAttributeEventRescans)
{
    start();
    EventLog log;
    ctrl->add_namespace_listener([&](const NamespaceEvent& e) { log.add(e); });
    {
        auto l = fake->lock();
        fake->namespaces = {{2, 4000}}; // 1 detached, 2 attached
        fake->changed_list = {1, 2};
    }
    ASSERT_TRUE(fake->fire_aer(nvme::aer_result::make(nvme::AsyncEventType::notice, 0, 0x04)));
    ASSERT_TRUE(wait_for([&] { return log.size() == 2; }));
    EXPECT_TRUE(log.has(NamespaceEvent::Kind::added, 2));
    EXPECT_TRUE(log.has(NamespaceEvent::Kind::removed, 1));
    auto info = ctrl->info();
    EXPECT_EQ(info->generation, 2u);
    ASSERT_EQ(info->namespaces.size(), 1u);
    EXPECT_EQ(info->namespaces.at(2).id.nsze, 4000u);

    const auto logs = fake->admin_commands(AdminOpcode::get_log_page);
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(nvme::cmd::get_log_page::Lid::get(logs[0]), 0x04u);
    EXPECT_EQ(nvme::cmd::get_log_page::Rae::get(logs[0]), 0u);
    EXPECT_EQ(nvme::cmd::get_log_page::num_bytes(logs[0]), 4096u);
    EXPECT_TRUE(wait_for([&] { return fake->outstanding_aers() == 4; })) << "the AER is re-posted";
}

TEST_F(Fixture, OtherEventsReadTheirLogPage)
{
    start();
    ASSERT_TRUE(
        fake->fire_aer(nvme::aer_result::make(nvme::AsyncEventType::smart_health, 1, 0x02)));
    ASSERT_TRUE(
        wait_for([&] { return fake->admin_commands(AdminOpcode::get_log_page).size() == 1; }));
    const auto lp = fake->admin_commands(AdminOpcode::get_log_page)[0];
    EXPECT_EQ(nvme::cmd::get_log_page::Lid::get(lp), 0x02u);
    EXPECT_EQ(nvme::cmd::get_log_page::Rae::get(lp), 0u);
    EXPECT_TRUE(wait_for([&] { return fake->outstanding_aers() == 4; }));
    EXPECT_EQ(ctrl->info()->generation, 1u);
}

TEST_F(Fixture, AerEndingWithErrorIsNotReposted)
{
    start();
    ASSERT_TRUE(fake->fire_aer(0, nvme::Status(nvme::GenericStatus::aborted_by_request)));
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(fake->outstanding_aers(), 3u);
}

TEST_F(Fixture, NamespaceManagementPassthroughRescansBeforeHandler)
{
    start();
    EventLog log;
    ctrl->add_namespace_listener([&](const NamespaceEvent& e) { log.add(e); });
    {
        auto l = fake->lock();
        fake->namespaces[3] = 8;
    }
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(AdminOpcode::namespace_management);
    std::promise<bool> saw_new_ns_in_handler;
    auto f = saw_new_ns_in_handler.get_future();
    ctrl->submit(QueueKind::admin, Command::from_opcode(s), [&](Result&& r) {
        EXPECT_TRUE(r.ok());
        saw_new_ns_in_handler.set_value(ctrl->info()->namespaces.contains(3));
    });
    ASSERT_TRUE(ready(f));
    EXPECT_TRUE(f.get()) << "the rescan finishes before the user's handler runs";
    EXPECT_TRUE(log.has(NamespaceEvent::Kind::added, 3)) << "listeners heard of it first";
    EXPECT_EQ(ctrl->info()->generation, 2u);
}

TEST_F(Fixture, FailedNamespaceManagementDoesNotRescan)
{
    fake->admin_status[static_cast<std::uint8_t>(AdminOpcode::namespace_management)] =
        nvme::Status(nvme::CommandSpecificStatus::namespace_insufficient_capacity);
    start();
    {
        auto l = fake->lock();
        fake->namespaces[3] = 8;
    }
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(AdminOpcode::namespace_management);
    auto r = ctrl->execute(QueueKind::admin, Command::from_opcode(s));
    EXPECT_TRUE(r.completed());
    EXPECT_FALSE(r.ok());
    std::this_thread::sleep_for(10ms);
    EXPECT_EQ(ctrl->info()->generation, 1u);
    EXPECT_EQ(fake->admin_commands(AdminOpcode::identify).size(), 3u) << "no rescan";
}

TEST_F(Fixture, RescanPublishesChangesAndListenersCanBeRemoved)
{
    start();
    EventLog first, second;
    const auto id1 = ctrl->add_namespace_listener([&](const NamespaceEvent& e) { first.add(e); });
    ctrl->add_namespace_listener([&](const NamespaceEvent& e) { second.add(e); });

    std::promise<std::error_code> p1;
    auto f1 = p1.get_future();
    ctrl->rescan([&](std::error_code ec) { p1.set_value(ec); });
    ASSERT_TRUE(ready(f1));
    EXPECT_FALSE(f1.get());
    EXPECT_EQ(ctrl->info()->generation, 1u) << "no change, no new generation";

    ctrl->remove_namespace_listener(id1);
    {
        auto l = fake->lock();
        fake->namespaces[1] = 5000;
    } // resized
    std::promise<std::error_code> p2;
    auto f2 = p2.get_future();
    ctrl->rescan([&](std::error_code ec) { p2.set_value(ec); });
    ASSERT_TRUE(ready(f2));
    EXPECT_FALSE(f2.get());
    EXPECT_TRUE(second.has(NamespaceEvent::Kind::changed, 1));
    EXPECT_EQ(first.size(), 0u);
    EXPECT_EQ(ctrl->info()->namespaces.at(1).id.nsze, 5000u);
    EXPECT_EQ(ctrl->info()->generation, 2u);
}

TEST_F(Fixture, DestructorCancelsCommandsInFlight)
{
    fake->io_mode = FakeState::IoMode::hold;
    start();
    std::vector<std::future<Result>> pending;
    for (int i = 0; i < 10; ++i)
        pending.push_back(submit(QueueKind::io, read_4k()));
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) + fake->held_count(2) == 10; }));
    ctrl.reset();
    for (auto& f : pending) {
        ASSERT_TRUE(ready(f, 0ms));
        EXPECT_EQ(f.get().error, std::errc::operation_canceled);
    }
    auto l = fake->lock();
    EXPECT_EQ(fake->shutdowns, 1);
}

TEST_F(Fixture, QueueFullOverflowCompletesEverything)
{
    fake->io_queue_depth = 2;
    start(fast_options());
    std::atomic<int> ok{0}, done{0};
    for (int i = 0; i < 100; ++i)
        ctrl->submit(QueueKind::io, read_4k(), [&](Result&& r) {
            if (r.ok()) ++ok;
            ++done;
        });
    ASSERT_TRUE(wait_for([&] { return done.load() == 100; }));
    EXPECT_EQ(ok.load(), 100);
}

TEST_F(Fixture, TransportQueueFullIsRetried)
{
    fake->io_queue_accepts = 1; // reports depth 64 but takes one at a time
    fake->io_mode = FakeState::IoMode::hold;
    start();
    std::atomic<int> ok{0};
    for (int i = 0; i < 20; ++i)
        ctrl->submit(QueueKind::io, read_4k(), [&](Result&& r) { ok += r.ok() ? 1 : 0; });
    auto released = 0u;
    ASSERT_TRUE(wait_for([&] {
        released += static_cast<unsigned>(fake->release(1) + fake->release(2));
        return ok.load() == 20;
    }));
    EXPECT_EQ(released, 20u);
}

clockid_t owner_cpu_clock(Controller& c)
{
    std::promise<clockid_t> p;
    auto f = p.get_future();
    c.submit(QueueKind::io, read_4k(), [&](Result&&) {
        clockid_t id{};
        pthread_getcpuclockid(pthread_self(), &id);
        p.set_value(id);
    });
    return f.get();
}

std::chrono::nanoseconds cpu_time(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

TEST_F(Fixture, IdleOwnerThreadUsesNoCpu)
{
    start();
    const clockid_t clock = owner_cpu_clock(*ctrl);
    std::this_thread::sleep_for(20ms);
    const auto before = cpu_time(clock);
    std::this_thread::sleep_for(200ms);
    const auto used = cpu_time(clock) - before;
    // A polling owner would burn ~200 ms here; the margin absorbs wake-ups
    // and sanitizer overhead on a loaded 2-core CI machine.
    EXPECT_LT(used, 40ms) << "owner thread burned "
                          << std::chrono::duration_cast<std::chrono::microseconds>(used).count()
                          << " µs idle";
}

TEST_F(Fixture, OwnerSleepsOnCompletionFdWhileCommandsAreOutstanding)
{
    fake->completion_fds = true;
    start();
    const clockid_t clock = owner_cpu_clock(*ctrl);
    {
        auto l = fake->lock();
        fake->io_mode = FakeState::IoMode::hold;
    }
    auto f = submit(QueueKind::io, read_4k());
    ASSERT_TRUE(wait_for([&] { return fake->held_count(1) + fake->held_count(2) == 1; }));
    std::this_thread::sleep_for(10ms);
    const auto before = cpu_time(clock);
    std::this_thread::sleep_for(200ms);
    const auto used = cpu_time(clock) - before;
    EXPECT_LT(used, 40ms);  // polling would burn ~200 ms
    fake->release(1);
    fake->release(2);
    ASSERT_TRUE(ready(f)) << "the completion eventfd wakes the owner";
    EXPECT_TRUE(f.get().ok());
}

/// A non-blocking pipe whose read end a watch handler drains a byte at a time.
struct WatchedPipe {
    int fds[2] = {-1, -1};
    WatchedPipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
    ~WatchedPipe()
    {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    WatchedPipe(const WatchedPipe&) = delete;
    WatchedPipe& operator=(const WatchedPipe&) = delete;
    void put(std::size_t n) const
    {
        const std::vector<char> bytes(n, 'x');
        EXPECT_EQ(::write(fds[1], bytes.data(), n), static_cast<ssize_t>(n));
    }
    [[nodiscard]] bool take_one() const
    {
        char c;
        return ::read(fds[0], &c, 1) == 1;
    }
};

TEST_F(Fixture, ABusyWatchedFdIsReadDirectlyButStarvesNoOther)
{
    start();
    WatchedPipe busy, other;
    std::mutex m;
    std::string order; // 'b' per byte of `busy`, 'o' when `other` is served
    auto busy_id = ctrl->watch_fd(busy.fds[0], [&] {
        if (!busy.take_one()) return false;
        std::lock_guard lock(m);
        order += 'b';
        if (order.size() == 2) other.put(1); // arrives while busy still has 62 bytes
        return true;
    });
    auto other_id = ctrl->watch_fd(other.fds[0], [&] {
        if (!other.take_one()) return false;
        std::lock_guard lock(m);
        order += 'o';
        return true;
    });
    busy.put(64);
    ASSERT_TRUE(wait_for([&] {
        std::lock_guard lock(m);
        return order.size() == 65;
    }));
    ctrl->unwatch_fd(busy_id);
    ctrl->unwatch_fd(other_id);
    std::lock_guard lock(m);
    // Read directly on two iterations in three, the busy fd would keep
    // `other` waiting until it is drained if epoll were never asked.
    EXPECT_LT(order.find('o'), 8u) << order;
}

TEST_F(Fixture, AWatchHandlerThatFoundNothingWaitsForReadiness)
{
    start();
    WatchedPipe pipe;
    std::atomic<int> calls{0};
    std::atomic<int> taken{0};
    auto id = ctrl->watch_fd(pipe.fds[0], [&] {
        ++calls;
        if (!pipe.take_one()) return false;
        ++taken;
        return true;
    });
    pipe.put(3);
    ASSERT_TRUE(wait_for([&] { return taken.load() == 3; }));
    std::this_thread::sleep_for(50ms);
    // At most one call finds the pipe empty (the direct one after the last byte).
    EXPECT_LE(calls.load(), 4);
    pipe.put(1);
    EXPECT_TRUE(wait_for([&] { return taken.load() == 4; }));
    ctrl->unwatch_fd(id);
}

// ---- the register-level state machine (controller_enable.cpp) -------------

TEST_F(Fixture, EnableWritesCcAndWaitsForReadyOnTimers)
{
    fake->ready_delay = 120ms;
    const auto t0 = std::chrono::steady_clock::now();
    start();
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 120ms);
    auto l = fake->lock();
    EXPECT_TRUE(nvme::cc::En::get(fake->cc));
    EXPECT_EQ(nvme::cc::Iosqes::get(fake->cc), 6u);
    EXPECT_EQ(nvme::cc::Iocqes::get(fake->cc), 4u);
    EXPECT_EQ(nvme::cc::Mps::get(fake->cc), 0u);
    EXPECT_EQ(nvme::cc::Css::get(fake->cc),
              static_cast<std::uint32_t>(nvme::cc::CommandSetSelected::admin_only))
        << "CAP.CSS names no I/O command set";
    // Polled, with a growing interval: more than once, far fewer than once a millisecond.
    EXPECT_GE(fake->csts_reads, 3);
    EXPECT_LE(fake->csts_reads, 20);
}

TEST_F(Fixture, ControllerServesWhileAnotherWaitsForReady)
{
    start();
    auto slow = std::make_shared<FakeState>();
    slow->ready_delay = 300ms;
    std::thread starter([&] {
        auto c = Controller::start(std::make_unique<FakeTransport>(slow), fast_options());
        EXPECT_TRUE(c.has_value());
    });
    ASSERT_TRUE(wait_for([&] { return slow->lock(), slow->enables == 1; }));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);
    starter.join();
}

TEST_F(Fixture, ControllerNeverReadyTimesOutAfterCapTo)
{
    fake->never_ready = true; // CAP.TO is 1: 500 ms
    const auto t0 = std::chrono::steady_clock::now();
    auto c = Controller::start(std::make_unique<FakeTransport>(fake), fast_options());
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), std::errc::timed_out);
    EXPECT_GE(took, 500ms);
    EXPECT_LT(took, 3s);
}

TEST_F(Fixture, ControllerLeftEnabledIsDisabledFirst)
{
    fake->cc = nvme::cc::En::set(0, true); // an earlier owner left it running
    start();
    auto l = fake->lock();
    EXPECT_EQ(fake->resets, 1) << "CC.EN=0 before the bring-up";
    EXPECT_EQ(fake->enables, 1);
    EXPECT_TRUE(nvme::cc::En::get(fake->cc));
}

TEST_F(Fixture, ResetDisablesThenReconnectsTheAdminQueue)
{
    start();
    std::promise<std::error_code> done;
    auto f = done.get_future();
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    ASSERT_TRUE(ready(f));
    EXPECT_FALSE(f.get());
    {
        auto l = fake->lock();
        EXPECT_EQ(fake->resets, 1);
        EXPECT_EQ(fake->enables, 2);
        EXPECT_EQ(fake->connects, 2);
        EXPECT_EQ(fake->disconnects, 1);
    }
    EXPECT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
}

TEST_F(Fixture, SubsystemResetWritesNssrWhereCapSaysSo)
{
    fake->cap = nvme::cap::Nssrs::set(fake->cap, true);
    start();
    EXPECT_EQ(subsystem_reset(*ctrl), std::error_code{});
    {
        auto l = fake->lock();
        EXPECT_EQ(fake->nssr_writes, 1u);
    }
    // Answered once the reset is scheduled; a command sent now waits for it
    // and runs on the controller brought up again.
    EXPECT_TRUE(ctrl->execute(QueueKind::io, read_4k()).ok());
    auto l = fake->lock();
    EXPECT_EQ(fake->enables, 2) << "brought up again after the subsystem reset";
}

TEST_F(Fixture, SubsystemResetNeedsNvme11)
{
    fake->cap = nvme::cap::Nssrs::set(fake->cap, true);
    fake->version = nvme::make_version(1, 0, 0);
    start();
    EXPECT_EQ(subsystem_reset(*ctrl), std::errc::operation_not_supported);
    auto l = fake->lock();
    EXPECT_EQ(fake->nssr_writes, 0u);
}

TEST_F(Fixture, ShutdownNotifiesAndWaitsForShst)
{
    start();
    ctrl.reset();
    auto l = fake->lock();
    EXPECT_EQ(fake->shutdowns, 1);
    EXPECT_EQ(nvme::cc::Shn::get(fake->cc),
              static_cast<std::uint32_t>(nvme::cc::ShutdownNotification::normal));
    EXPECT_EQ(fake->disconnects, 1);
}

TEST_F(Fixture, KeepAliveEveryHalfKatoAndALossWhenUnanswered)
{
    fake->keep_alive_timeout = 100ms;
    start();
    ASSERT_TRUE(wait_for([&] { return fake->admin_commands(AdminOpcode::keep_alive).size() >= 3; }));
    {
        auto l = fake->lock();
        EXPECT_EQ(fake->connection_failures, 0);
    }
    // The fake holds what it does not know: from now on hold Keep Alive.
    {
        auto l = fake->lock();
        fake->hold_keep_alive = true;
    }
    ASSERT_TRUE(wait_for([&] { return fake->lock(), fake->connection_failures >= 1; }));
}

} // namespace
} // namespace nvmecuse::ctrlr
