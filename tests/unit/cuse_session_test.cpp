// The CUSE session layer end to end: a Registry of real libfuse sessions in
// front of an emulated controller, driven by a fake kernel over socketpairs
// (tests/unit/fake_cuse_kernel.hpp), no /dev/cuse needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <linux/nvme_ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/registry.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "fake_cuse_kernel.hpp"

namespace nvmecuse::cuse {
namespace {

using namespace std::chrono_literals;
using testing::FakeCuseKernel;

constexpr auto bounded = 3s;
/// A pid that cannot exist (above PID_MAX_LIMIT): process_vm_* fail with
/// ESRCH, so the session must use the retry protocol.
constexpr pid_t no_such_pid = 0x7ffffff0;
constexpr std::uint64_t ns_size = 64ull << 20;

template <class Pred> bool wait_for(Pred pred, std::chrono::milliseconds limit = bounded)
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

using Options = FakeCuseKernel::IoctlOptions;
Options via_pid(pid_t pid)
{
    Options o;
    o.pid = pid;
    return o;
}
Options compat_caller()
{
    Options o;
    o.flags = FUSE_IOCTL_COMPAT;
    return o;
}
Options interrupt_first()
{
    Options o;
    o.interrupt_first = true;
    return o;
}
Options on_sent(std::function<void(std::uint64_t)> f)
{
    Options o;
    o.on_sent = std::move(f);
    return o;
}

std::uint64_t addr(const void* p)
{
    return reinterpret_cast<std::uintptr_t>(p);
}

nvme_passthru_cmd identify_ctrl(void* buf)
{
    nvme_passthru_cmd c{};
    c.opcode = 0x06;
    c.addr = addr(buf);
    c.data_len = 4096;
    c.cdw10 = 1;
    return c;
}

nvme_user_io user_io(std::uint8_t opcode, std::uint64_t slba, std::uint16_t blocks, void* buf,
                     void* meta = nullptr)
{
    nvme_user_io io{};
    io.opcode = opcode;
    io.slba = slba;
    io.nblocks = static_cast<std::uint16_t>(blocks - 1);
    io.addr = addr(buf);
    io.metadata = addr(meta);
    return io;
}

struct Node {
    std::unique_ptr<FakeCuseKernel> kernel;
    std::uint64_t fh = 0;
};

/// Who reads a node's requests.
enum class Serving { reader_threads, owner_thread, serving_threads };

std::string serving_name(const ::testing::TestParamInfo<Serving>& i)
{
    switch (i.param) {
    case Serving::reader_threads: return "ReaderThreads";
    case Serving::owner_thread: return "OnOwnerThread";
    case Serving::serving_threads: return "ServingThreads";
    }
    return "?";
}

class CuseSession : public ::testing::Test {
protected:
    [[nodiscard]] virtual Serving serving() const { return Serving::reader_threads; }
    /// Unrestricted ioctls with the retry protocol (false) or restricted ones.
    [[nodiscard]] virtual bool restricted() const { return false; }
    /// The transport the controller drives (the emulated one, or a wrapper).
    [[nodiscard]] virtual std::unique_ptr<transport::Transport>
    decorate(std::unique_ptr<transport::Transport> t)
    {
        return t;
    }

    /// The caps on command buffers in flight (DeviceOptions::inflight).
    [[nodiscard]] virtual InflightLimits inflight_limits() const { return {}; }

    /// The controller's options (name and recovery timers).
    [[nodiscard]] virtual ctrlr::Controller::Options controller_options() const
    {
        ctrlr::Controller::Options options;
        options.name = "cuse-test";
        return options;
    }

    void SetUp() override
    {
        emu::ControllerConfig config;
        emu::NamespaceConfig ns1;
        ns1.nsid = 1;
        ns1.size_bytes = ns_size;
        ns1.lba_data_size = 512;
        emu::NamespaceConfig ns2;
        ns2.nsid = 2;
        ns2.size_bytes = ns_size;
        ns2.lba_data_size = 4096;
        ns2.metadata_size = 8;
        config.namespaces = {ns1, ns2};
        auto transport = emu::make_transport(config);
        ASSERT_TRUE(transport) << transport.error().message();
        ctrlr::Controller::Options options = controller_options();
        if (serving() == Serving::serving_threads) {
            // Two serving threads, each with a queue pair of its own.
            for (unsigned i = 0; i < 2; ++i) {
                auto r = ctrlr::Reactor::start("cuse-test-r" + std::to_string(i), i);
                ASSERT_TRUE(r) << r.error().message();
                reactors_.push_back(std::move(*r));
                options.reactors.push_back(reactors_.back().get());
            }
        }
        auto c = ctrlr::Controller::start(decorate(std::move(*transport)), options);
        ASSERT_TRUE(c) << c.error().message();
        ctrl_ = std::move(*c);
        auto r = Registry::create(*ctrl_, registry_options());
        ASSERT_TRUE(r) << r.error().message();
        registry_ = std::move(*r);
    }

    /// The nodes' options: served as serving() says, on the fake kernel.
    RegistryOptions registry_options()
    {
        RegistryOptions o;
        o.reader_threads = 2;
        o.serve_on_owner_thread = serving() == Serving::owner_thread;
        for (const auto& r : reactors_)
            o.reactors.push_back(r.get());
        o.restricted_ioctls = restricted();
        o.inflight = inflight_limits();
        o.permissions.apply = false;
        o.credentials = [this](pid_t pid) -> std::expected<CallerCredentials, std::error_code> {
            return CallerCredentials{
                pid, privileged_.load() ? std::uint64_t{1} << cap_sys_admin : 0, true};
        };
        o.open_channel = [this](const std::string& devname) -> std::expected<int, std::error_code> {
            int sv[2];
            if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
                return std::unexpected(std::error_code(errno, std::system_category()));
            std::lock_guard lock(mutex_);
            kernel_ends_[devname] = sv[0];
            cv_.notify_all();
            return sv[1];
        };
        return o;
    }

    void TearDown() override
    {
        registry_.reset();
        nodes_.clear();
        ctrl_.reset();
        reactors_.clear(); // after the controller and the nodes on them
        for (auto& [name, fd] : kernel_ends_)
            ::close(fd);
    }

    /// The fake kernel of `devname`, after CUSE_INIT and FUSE_OPEN.
    Node& node(const std::string& devname)
    {
        if (auto it = nodes_.find(devname); it != nodes_.end()) return it->second;
        int fd = -1;
        {
            std::unique_lock lock(mutex_);
            const bool appeared =
                cv_.wait_for(lock, bounded, [&] { return kernel_ends_.contains(devname); });
            EXPECT_TRUE(appeared) << devname << " never appeared";
            if (appeared) {
                fd = kernel_ends_[devname];
                kernel_ends_.erase(devname);
            }
        }
        Node n;
        if (fd >= 0) {
            n.kernel = std::make_unique<FakeCuseKernel>(fd);
            auto init = n.kernel->init();
            EXPECT_TRUE(init) << "CUSE_INIT: " << (init ? 0 : init.error());
            if (init) {
                EXPECT_EQ(init->devname, devname);
                EXPECT_EQ(init->flags & CUSE_UNRESTRICTED_IOCTL,
                          restricted() ? 0u : unsigned{CUSE_UNRESTRICTED_IOCTL});
            }
            auto fh = n.kernel->open(O_RDONLY); // no open-mode restriction
            EXPECT_TRUE(fh);
            if (fh) n.fh = *fh;
        }
        return nodes_.emplace(devname, std::move(n)).first->second;
    }

    FakeCuseKernel::IoctlResult ioctl(const std::string& devname, unsigned int cmd, void* arg,
                                      FakeCuseKernel::IoctlOptions options = {})
    {
        Node& n = node(devname);
        if (!n.kernel) return {};
        return n.kernel->ioctl(n.fh, cmd, arg, options);
    }

    std::uint64_t ioctl_requests(const std::string& devname)
    {
        auto s = registry_->stats(devname);
        return s ? s->ioctl_requests : 0;
    }
    std::uint64_t retries(const std::string& devname)
    {
        auto s = registry_->stats(devname);
        return s ? s->retries : 0;
    }

    const std::string ctrl_node = "nvmecuse/nvme0";
    const std::string ns1_node = "nvmecuse/nvme0n1";
    const std::string ns2_node = "nvmecuse/nvme0n2";

    std::vector<std::unique_ptr<ctrlr::Reactor>> reactors_;
    std::unique_ptr<ctrlr::Controller> ctrl_;
    std::unique_ptr<Registry> registry_;
    std::atomic<bool> privileged_{true};
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::string, int> kernel_ends_;
    std::map<std::string, Node> nodes_;
};

/// The tests that hold in both ways of serving the nodes. (The ones that
/// block the owner thread to keep a command in flight need reader threads
/// and stay on CuseSession.)
class CuseSessionModes : public CuseSession, public ::testing::WithParamInterface<Serving> {
protected:
    [[nodiscard]] Serving serving() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Serving, CuseSessionModes, ::testing::Values(Serving::reader_threads, Serving::owner_thread,
                                           Serving::serving_threads),
                         serving_name);

TEST_P(CuseSessionModes, RegistryCreatesControllerAndNamespaceNodes)
{
    EXPECT_EQ(registry_->devnames(), (std::vector<std::string>{ctrl_node, ns1_node, ns2_node}));
    Node& n = node(ctrl_node);
    ASSERT_TRUE(n.kernel);
    EXPECT_EQ(n.kernel->read(n.fh, 4096), EINVAL); // nvme char devices have no read()/write()
    EXPECT_EQ(n.kernel->write(n.fh, 512), EINVAL);
    EXPECT_EQ(n.kernel->release(n.fh), 0);
}

TEST_P(CuseSessionModes, IdentifyControllerFastPathTakesOneRequest)
{
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    cmd.result = 0xdeadbeef;
    node(ctrl_node);
    const auto before = ioctl_requests(ctrl_node);
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(ioctl_requests(ctrl_node) - before, 1u);
    EXPECT_EQ(cmd.result, 0u);
    const auto id = ctrl_->info()->id;
    EXPECT_EQ(std::memcmp(buf.data(), &id, 64), 0); // VID .. MN as the controller reports them
    EXPECT_EQ(std::memcmp(buf.data() + 24, "nvmecuse Emulated", 17), 0);
}

TEST_P(CuseSessionModes, IdentifyControllerRetryPathTakesThreeRequestsSameBytes)
{
    std::vector<std::byte> fast(4096, std::byte{0xAA});
    std::vector<std::byte> slow(4096, std::byte{0x55});
    auto c1 = identify_ctrl(fast.data());
    auto c2 = identify_ctrl(slow.data());
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &c1).ret, 0);
    const auto before = ioctl_requests(ctrl_node);
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &c2, via_pid(no_such_pid));
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(r.requests, 3u);
    EXPECT_EQ(ioctl_requests(ctrl_node) - before, 3u);
    EXPECT_EQ(fast, slow);
}

TEST_P(CuseSessionModes, CreateNamespaceReturnsNsidAndNodeAppearsAfterAttach)
{
    alignas(8) std::array<std::byte, 4096> data{};
    nvme::IdentifyNamespace idns{};
    idns.nsze = idns.ncap = 2048;
    std::memcpy(data.data(), &idns, sizeof idns);
    nvme_passthru_cmd create{};
    create.opcode = 0x0d; // Namespace Management, SEL 0 = create
    create.addr = addr(data.data());
    create.data_len = 4096;
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &create);
    ASSERT_EQ(r.ret, 0) << r.error;
    ASSERT_EQ(create.result, 3u); // SPDK bug #2278: the nsid comes back in result

    alignas(8) std::array<std::uint16_t, 2048> list{};
    list[0] = 1;
    list[1] = 1; // cntlid
    nvme_passthru_cmd attach{};
    attach.opcode = 0x15; // Namespace Attachment, SEL 0 = attach
    attach.nsid = 3;
    attach.addr = addr(list.data());
    attach.data_len = 4096;
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &attach).ret, 0);

    const std::string ns3 = "nvmecuse/nvme0n3";
    EXPECT_EQ(ioctl(ns3, NVME_IOCTL_ID, nullptr).ret, 3);
    std::uint64_t bytes = 0;
    EXPECT_EQ(ioctl(ns3, BLKGETSIZE64, &bytes).ret, 0);
    EXPECT_EQ(bytes, 2048u * 512u);
}

TEST_P(CuseSessionModes, DetachedNamespaceNodeGoesAwayAndFormatChangesBlockSize)
{
    Node& n2 = node(ns2_node);
    ASSERT_TRUE(n2.kernel);
    alignas(8) std::array<std::uint16_t, 2048> list{};
    list[0] = 1;
    list[1] = 1;
    nvme_passthru_cmd detach{};
    detach.opcode = 0x15;
    detach.nsid = 2;
    detach.cdw10 = 1; // SEL 1 = detach
    detach.addr = addr(list.data());
    detach.data_len = 4096;
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &detach).ret, 0);
    EXPECT_TRUE(n2.kernel->wait_closed()); // the session ended: the kernel removes the node
    EXPECT_TRUE(wait_for([&] { return !registry_->stats(ns2_node); }));

    nvme_passthru_cmd format{};
    format.opcode = 0x80;
    format.nsid = 1;
    format.cdw10 = 4; // LBAF 4: 4096 bytes
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &format).ret, 0);
    int ssz = 0;
    EXPECT_TRUE(wait_for([&] { return ioctl(ns1_node, BLKSSZGET, &ssz).ret == 0 && ssz == 4096; }));
}

TEST_P(CuseSessionModes, ResetAndRescanThroughTheController)
{
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_RESET, nullptr).ret, 0);
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_RESCAN, nullptr).ret, 0);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_RESET, nullptr).error, ENOTTY); // controller node only
    // The emulated controller has no NVM Subsystem Reset (CAP.NSSRS = 0):
    // ENOTTY, as nvme_reset_subsystem() answers, not EOPNOTSUPP.
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_SUBSYS_RESET, nullptr).error, ENOTTY);
    std::vector<std::byte> buf(4096);
    auto cmd = identify_ctrl(buf.data());
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd).ret, 0); // works after the reset
}

TEST_P(CuseSessionModes, IoCmdOnControllerNodeWithTwoNamespacesIsEinval)
{
    std::vector<std::byte> buf(512);
    nvme_passthru_cmd c{};
    c.opcode = 0x02;
    c.nsid = 1;
    c.addr = addr(buf.data());
    c.data_len = 512;
    const auto r = ioctl(ctrl_node, NVME_IOCTL_IO_CMD, &c);
    EXPECT_EQ(r.ret, -1);
    EXPECT_EQ(r.error, EINVAL);
}

TEST_P(CuseSessionModes, NamespaceIdAndBlockSizes)
{
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).ret, 1);
    EXPECT_EQ(ioctl(ns2_node, NVME_IOCTL_ID, nullptr).ret, 2);
    std::uint64_t bytes = 0;
    int ssz = 0;
    EXPECT_EQ(ioctl(ns2_node, BLKGETSIZE64, &bytes).ret, 0);
    EXPECT_EQ(bytes, ns_size);
    EXPECT_EQ(ioctl(ns1_node, BLKSSZGET, &ssz).ret, 0);
    EXPECT_EQ(ssz, 512);
    EXPECT_EQ(ioctl(ns2_node, BLKSSZGET, &ssz).ret, 0);
    EXPECT_EQ(ssz, 4096);
    // The retry path answers the same (2 requests: the out buffer, then the value).
    ssz = 0;
    const auto r = ioctl(ns2_node, BLKSSZGET, &ssz, via_pid(no_such_pid));
    EXPECT_EQ(r.ret, 0);
    EXPECT_EQ(r.requests, 2u);
    EXPECT_EQ(ssz, 4096);
    unsigned long sectors = 0;
    EXPECT_EQ(ioctl(ns1_node, BLKGETSIZE, &sectors).ret, 0);
    EXPECT_EQ(sectors, ns_size / 512);
}

TEST_P(CuseSessionModes, SubmitIoWriteThenReadBackBothPaths)
{
    for (const pid_t pid : {pid_t{0}, no_such_pid}) {
        SCOPED_TRACE(pid == 0 ? "fast path" : "retry path");
        std::vector<std::byte> out(8 * 512);
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = std::byte(i * 7 + pid);
        std::vector<std::byte> in(out.size(), std::byte{0});
        auto w = user_io(0x01, 100, 8, out.data());
        auto r = user_io(0x02, 100, 8, in.data());
        const auto wr = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w, via_pid(pid));
        ASSERT_EQ(wr.ret, 0) << wr.error;
        const auto rd = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid));
        ASSERT_EQ(rd.ret, 0) << rd.error;
        EXPECT_EQ(in, out);
        EXPECT_EQ(wr.requests, pid == 0 ? 1u : 3u);
    }
}

TEST_P(CuseSessionModes, TheBuffersOfACallerThatIsNotRootAreCopiedByTheKernel)
{
    // The daemon reaches into root's callers only: a caller's page faults
    // that it controls must stall no thread but its own.
    std::vector<std::byte> out(8 * 512);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::byte(i * 13 + 1);
    std::vector<std::byte> in(out.size(), std::byte{0});
    auto w = user_io(0x01, 200, 8, out.data());
    auto r = user_io(0x02, 200, 8, in.data());
    FakeCuseKernel::IoctlOptions user;
    user.uid = 1000;
    node(ns1_node);
    const auto fast_before = registry_->stats(ns1_node)->fast_path;
    const auto wr = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w, user);
    ASSERT_EQ(wr.ret, 0) << wr.error;
    EXPECT_EQ(wr.requests, 3u) << "struct, then the data, then the execution";
    const auto rd = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, user);
    ASSERT_EQ(rd.ret, 0) << rd.error;
    EXPECT_EQ(in, out);
    EXPECT_EQ(registry_->stats(ns1_node)->fast_path, fast_before);

    std::ranges::fill(in, std::byte{0});
    const auto root = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r);
    ASSERT_EQ(root.ret, 0) << root.error;
    EXPECT_EQ(root.requests, 1u);
    EXPECT_EQ(in, out);
}

TEST_P(CuseSessionModes, CountersTellDataByDirectionAndErrors)
{
    std::vector<std::byte> buf(8 * 512, std::byte{0x3c});
    auto w = user_io(0x01, 300, 8, buf.data());
    auto r = user_io(0x02, 300, 8, buf.data());
    node(ns1_node);
    const auto before = *registry_->stats(ns1_node);
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w).ret, 0);
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r).ret, 0);
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(no_such_pid)).ret, 0);
    auto past_end = user_io(0x02, ns_size / 512, 1, buf.data());
    EXPECT_GT(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &past_end).ret, 0) << "an NVMe status";
    EXPECT_EQ(ioctl(ns1_node, _IO('N', 0x7f), nullptr).error, ENOTTY);
    const auto after = *registry_->stats(ns1_node);
    EXPECT_EQ(after.bytes_written - before.bytes_written, 4096u);
    EXPECT_EQ(after.bytes_read - before.bytes_read, 2 * 4096u + 512u)
        << "both paths, and what a failed read moved (the kernel copies it back)";
    EXPECT_EQ(after.errors - before.errors, 2u);
}

TEST_P(CuseSessionModes, LatencyIsSampledForIoctlsThatReachTheController)
{
    std::vector<std::byte> buf(512);
    auto r = user_io(0x02, 7, 1, buf.data());
    node(ns1_node);
    const auto before = registry_->stats(ns1_node)->latency.samples;
    for (unsigned i = 0; i < 4 * cuse::LatencySampler::every; ++i)
        EXPECT_EQ(ioctl(ns1_node, _IO('N', 0x7f), nullptr).error, ENOTTY);
    EXPECT_EQ(registry_->stats(ns1_node)->latency.samples, before)
        << "refused before the controller: never measured";
    constexpr unsigned reads = 4 * cuse::LatencySampler::every;
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < reads; ++i)
        ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r).ret, 0);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto l = registry_->stats(ns1_node)->latency;
    // One in `every` per serving thread: the counters of the threads that
    // took the ENOTTY ones ran on too, so up to one more per thread.
    EXPECT_GE(l.samples - before, 1u);
    EXPECT_LE(l.samples - before, reads / cuse::LatencySampler::every + 4);
    EXPECT_GT(l.p50_ns, 0u);
    EXPECT_LE(l.p50_ns, l.p99_ns);
    EXPECT_LE(l.p99_ns, l.p999_ns);
    EXPECT_LE(l.p999_ns, l.max_ns + l.max_ns / 16); // a bucket's midpoint
    EXPECT_LT(l.max_ns, static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
    EXPECT_GE(l.sum_ns, l.max_ns);
}

TEST_P(CuseSessionModes, SubmitIoWithSeparateMetadata)
{
    std::vector<std::byte> data(2 * 4096, std::byte{0x3c});
    alignas(8) std::array<std::byte, 16> meta{};
    meta.fill(std::byte{0x11});
    std::vector<std::byte> back(data.size());
    alignas(8) std::array<std::byte, 16> meta_back{};
    auto w = user_io(0x01, 5, 2, data.data(), meta.data());
    auto r = user_io(0x02, 5, 2, back.data(), meta_back.data());
    ASSERT_EQ(ioctl(ns2_node, NVME_IOCTL_SUBMIT_IO, &w).ret, 0);
    ASSERT_EQ(ioctl(ns2_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(no_such_pid)).ret, 0);
    EXPECT_EQ(back, data);
    EXPECT_EQ(meta_back, meta);
}

TEST_P(CuseSessionModes, VectoredIo64ReadGathersIntoEverySegment)
{
    std::vector<std::byte> out(4096);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::byte(i * 3 + 1);
    auto w = user_io(0x01, 40, 8, out.data());
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w).ret, 0);
    for (const pid_t pid : {pid_t{0}, no_such_pid}) {
        SCOPED_TRACE(pid == 0 ? "fast path" : "retry path");
        std::vector<std::byte> a(1024);
        std::vector<std::byte> b(3072);
        std::array<iovec, 2> segments{{{a.data(), a.size()}, {b.data(), b.size()}}};
        nvme_passthru_cmd64 cmd{};
        cmd.opcode = 0x02;
        cmd.nsid = 1;
        cmd.addr = addr(segments.data());
        cmd.data_len = 2; // iovec count
        cmd.cdw10 = 40;
        cmd.cdw12 = 7;
        cmd.result = ~0ull;
        const auto r = ioctl(ns1_node, NVME_IOCTL_IO64_CMD_VEC, &cmd, via_pid(pid));
        ASSERT_EQ(r.ret, 0) << r.error;
        EXPECT_EQ(r.requests, pid == 0 ? 1u : 4u); // struct, iovecs, buffers, execute
        EXPECT_EQ(cmd.result, 0u);
        EXPECT_EQ(std::memcmp(a.data(), out.data(), a.size()), 0);
        EXPECT_EQ(std::memcmp(b.data(), out.data() + a.size(), b.size()), 0);
    }
}

TEST_P(CuseSessionModes, OneMebibyteReadOnlyOnTheFastPath)
{
    std::vector<std::byte> big(1u << 20, std::byte{0x77});
    auto rd = user_io(0x02, 0, static_cast<std::uint16_t>(big.size() / 512), big.data());
    const auto r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &rd);
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(r.requests, 1u);
    EXPECT_TRUE(
        std::ranges::all_of(big, [](std::byte b) { return b == std::byte{0}; })); // never written
    const auto slow = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &rd, via_pid(no_such_pid));
    EXPECT_EQ(slow.ret, -1);
    EXPECT_EQ(slow.error, ENOMEM); // past FUSE's 128 KiB per direction
}

TEST_P(CuseSessionModes, SubmitIoLargerThanMdtsIsSplitInOneIoctl)
{
    for (const auto& [devname, lba, ms] :
         {std::tuple{ns1_node, 512u, 0u}, std::tuple{ns2_node, 4096u, 8u}}) {
        SCOPED_TRACE(devname);
        const std::size_t size = (2u << 20) + 3 * lba; // more than two MDTS-sized parts
        const auto blocks = static_cast<std::uint16_t>(size / lba);
        std::vector<std::byte> out(size);
        for (std::size_t i = 0; i < size; ++i)
            out[i] = std::byte(i * 13 + i / 4096);
        std::vector<std::byte> meta(blocks * ms);
        for (std::size_t i = 0; i < meta.size(); ++i)
            meta[i] = std::byte(i * 5 + 1);
        std::vector<std::byte> in(size);
        std::vector<std::byte> meta_in(meta.size());
        auto w = user_io(0x01, 7, blocks, out.data(), ms ? meta.data() : nullptr);
        auto rd = user_io(0x02, 7, blocks, in.data(), ms ? meta_in.data() : nullptr);
        node(devname);
        const auto commands = registry_->stats(devname)->commands;
        const auto wr = ioctl(devname, NVME_IOCTL_SUBMIT_IO, &w);
        ASSERT_EQ(wr.ret, 0) << wr.error;
        EXPECT_EQ(wr.requests, 1u);
        EXPECT_EQ(registry_->stats(devname)->commands - commands, 3u); // 1 MiB + 1 MiB + the rest
        ASSERT_EQ(ioctl(devname, NVME_IOCTL_SUBMIT_IO, &rd).ret, 0);
        EXPECT_EQ(in, out);
        EXPECT_EQ(meta_in, meta);
        // The parts landed at their LBAs: the block after the first MDTS.
        std::vector<std::byte> one(lba);
        std::vector<std::byte> one_meta(ms);
        const std::uint64_t part = (1u << 20) / lba;
        auto single = user_io(0x02, 7 + part, 1, one.data(), ms ? one_meta.data() : nullptr);
        ASSERT_EQ(ioctl(devname, NVME_IOCTL_SUBMIT_IO, &single).ret, 0);
        EXPECT_EQ(std::memcmp(one.data(), out.data() + part * lba, lba), 0);
    }
}

// libfuse would decode an argument the message does not hold from stale
// bytes of its buffer; the session answers EINVAL instead, and the node
// goes on. (Found by the cuse_session fuzz target.)
TEST_P(CuseSessionModes, AnIoctlWhoseInSizeOverrunsItsMessageIsEinvalAndTheNodeGoesOn)
{
    std::vector<std::byte> buf(4096);
    auto cmd = identify_ctrl(buf.data());
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd).ret, 0); // fills libfuse's buffer
    auto& n = nodes_.at(ctrl_node);
    EXPECT_EQ(n.kernel->ioctl_overrunning_message(n.fh, NVME_IOCTL_ADMIN_CMD,
                                                  sizeof(nvme_admin_cmd), 8),
              EINVAL);
    EXPECT_EQ(n.kernel->ioctl_overrunning_message(n.fh, NVME_IOCTL_ID, 4096, 0), EINVAL);
    std::fill(buf.begin(), buf.end(), std::byte{0});
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(std::memcmp(buf.data() + 24, "nvmecuse Emulated", 17), 0);
}

TEST_P(CuseSessionModes, ArgumentErrorsMatchTheKernel)
{
    std::vector<std::byte> buf(4096);
    auto cmd = identify_ctrl(buf.data());
    cmd.flags = 1;
    auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    EXPECT_EQ(r.error, EINVAL);
    r = ioctl(ctrl_node, _IO('N', 0x7f), nullptr);
    EXPECT_EQ(r.error, ENOTTY);
    r = ioctl(ctrl_node, NVME_IOCTL_ID, nullptr); // namespace-only ioctls on the controller node
    EXPECT_EQ(r.error, ENOTTY);
    std::vector<std::byte> block(512);
    auto io = user_io(0x02, 0, 1, block.data());
    r = ioctl(ctrl_node, NVME_IOCTL_SUBMIT_IO, &io);
    EXPECT_EQ(r.error, ENOTTY);
    cmd.flags = 0;
    // A 32-bit caller is served, its pointers counting with their low 32
    // bits (nvme_to_user_ptr): the buffer lies below 4 GiB.
    void* low = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    ASSERT_NE(low, MAP_FAILED);
    auto compat = identify_ctrl(low);
    compat.addr |= 0xdead00000000ull;
    r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &compat, compat_caller());
    EXPECT_EQ(r.ret, 0) << r.error;
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd).ret, 0);
    EXPECT_EQ(std::memcmp(low, buf.data(), 4096), 0);
    ::munmap(low, 4096);
    // Over MDTS (1 MiB) where the command cannot be split: EINVAL like the
    // kernel's max_hw_sectors check.
    std::vector<std::byte> huge((1u << 20) + 4096);
    auto admin = identify_ctrl(huge.data());
    admin.data_len = static_cast<std::uint32_t>(huge.size());
    r = ioctl(ns1_node, NVME_IOCTL_ADMIN_CMD, &admin);
    EXPECT_EQ(r.error, EINVAL);
    nvme_passthru_cmd vendor{};
    vendor.opcode = 0x82; // vendor specific, controller to host
    vendor.nsid = 1;
    vendor.addr = addr(huge.data());
    vendor.data_len = static_cast<std::uint32_t>(huge.size());
    r = ioctl(ns1_node, NVME_IOCTL_IO_CMD, &vendor);
    EXPECT_EQ(r.error, EINVAL);
    // A bad read buffer: the fast path learns it only when delivering the
    // data after the command ran (EFAULT, result untouched); on the retry
    // path the kernel's copy to the out iovecs faults.
    auto bad = identify_ctrl(reinterpret_cast<void*>(std::uintptr_t{8}));
    bad.result = 77;
    const auto before = registry_->stats(ctrl_node)->commands;
    r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &bad);
    EXPECT_EQ(r.error, EFAULT);
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(registry_->stats(ctrl_node)->commands - before, 1u);
    EXPECT_EQ(bad.result, 77u);
    r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &bad, via_pid(no_such_pid));
    EXPECT_EQ(r.error, EFAULT);
    // A bad write buffer: the fast path falls back before anything runs and
    // the kernel's copy from the in iovecs faults.
    auto wr = user_io(0x01, 0, 1, reinterpret_cast<void*>(std::uintptr_t{8}));
    const auto commands = registry_->stats(ns1_node) ? registry_->stats(ns1_node)->commands : 0;
    r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &wr);
    EXPECT_EQ(r.error, EFAULT);
    EXPECT_EQ(r.requests, 2u); // fast path fell back: asked for the struct, then the data
    EXPECT_EQ(registry_->stats(ns1_node)->commands, commands);
}

TEST_P(CuseSessionModes, PassthroughWithoutCapSysAdminIsEacces)
{
    privileged_ = false;
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    EXPECT_EQ(r.ret, -1);
    EXPECT_EQ(r.error, EACCES);
    EXPECT_EQ(buf[0], std::byte{0xAA});
    // SUBMIT_IO and ID need no capability.
    std::vector<std::byte> data(512);
    auto rd = user_io(0x02, 0, 1, data.data());
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &rd).ret, 0);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).ret, 1);
}

TEST_P(CuseSessionModes, ManyIoctlsInFlightFromSeveralThreads)
{
    constexpr int threads = 8;
    constexpr int rounds = 100; // a write and a read each
    node(ns1_node);
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::vector<std::byte> out(4096);
            std::vector<std::byte> in(4096);
            for (int i = 0; i < rounds; ++i) {
                const std::uint64_t slba = static_cast<std::uint64_t>(t * rounds + i) * 8;
                for (std::size_t b = 0; b < out.size(); ++b)
                    out[b] = std::byte(b + t * 31 + i);
                std::ranges::fill(in, std::byte{0});
                auto w = user_io(0x01, slba, 8, out.data());
                auto r = user_io(0x02, slba, 8, in.data());
                // Every fourth round over the retry path.
                const pid_t pid = i % 4 == 3 ? no_such_pid : 0;
                if (ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w, via_pid(pid)).ret != 0 ||
                    ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid)).ret != 0 || in != out)
                    failures.fetch_add(1);
            }
        });
    }
    for (auto& w : workers)
        w.join();
    EXPECT_EQ(failures.load(), 0);
    const auto s = registry_->stats(ns1_node);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->in_flight, 0u);
    EXPECT_EQ(s->ioctls_answered, std::uint64_t{threads} * rounds * 2);
}

/// Blocks the controller's owner thread until released, so a command
/// stays in flight for as long as a test needs.
class OwnerGate {
public:
    explicit OwnerGate(ctrlr::Controller& c)
    {
        nvme::SubmissionQueueEntry s{};
        s.opc = 0x06;
        s.cdw10 = 1;
        c.submit(ctrlr::QueueKind::admin,
                 ctrlr::Command::from_opcode(s, ctrlr::DataBuffer::zeroed(4096)),
                 [f = release_.get_future().share(), this](ctrlr::Result&&) {
                     entered_.store(true);
                     f.wait_for(bounded);
                 });
        EXPECT_TRUE(wait_for([&] { return entered_.load(); }));
    }
    ~OwnerGate() { open(); }
    void open()
    {
        if (!opened_) release_.set_value();
        opened_ = true;
    }

private:
    std::promise<void> release_;
    std::atomic<bool> entered_{false};
    bool opened_ = false;
};

// The kernel's NVMe passthrough waits uninterruptibly: a signal never turns
// a command into EINTR. Over CUSE the kernel sends FUSE_INTERRUPT and keeps
// waiting; the daemon still answers with the command's outcome and data.
TEST_P(CuseSessionModes, InterruptBeforeTheRequestStillDeliversTheOutcome)
{
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    cmd.result = 0x12345678;
    const auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd, interrupt_first());
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(cmd.result, 0u);
    EXPECT_EQ(std::memcmp(buf.data() + 24, "nvmecuse Emulated", 17), 0);
}

TEST_F(CuseSession, InterruptOfACommandInFlightStillDeliversTheOutcome)
{
    node(ctrl_node);
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    cmd.result = 0x12345678;
    OwnerGate gate(*ctrl_);
    std::atomic<std::uint64_t> sent{0};
    auto caller = std::async(std::launch::async, [&] {
        return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd,
                     on_sent([&](std::uint64_t u) { sent = u; }));
    });
    // The request went out (its unique is known) and waits for the controller.
    ASSERT_TRUE(
        wait_for([&] { return sent.load() != 0 && registry_->stats(ctrl_node)->in_flight == 1; }));
    nodes_.at(ctrl_node).kernel->interrupt(sent.load());
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->interrupts == 1; }));
    gate.open();
    ASSERT_EQ(caller.wait_for(bounded), std::future_status::ready);
    const auto r = caller.get();
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(cmd.result, 0u);
    EXPECT_EQ(std::memcmp(buf.data() + 24, "nvmecuse Emulated", 17), 0);
}

// A namespace detached through its own node, or a daemon stopping, lets the
// commands already in flight finish (within the drain grace): their callers
// get the real outcome, not ENODEV.
TEST_F(CuseSession, StopLetsACommandInFlightFinish)
{
    node(ctrl_node);
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    OwnerGate gate(*ctrl_);
    auto caller = std::async(std::launch::async,
                             [&] { return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd); });
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->in_flight == 1; }));
    auto stopping = std::async(std::launch::async, [&] { registry_->stop(); });
    EXPECT_EQ(stopping.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
    gate.open();
    ASSERT_EQ(caller.wait_for(bounded), std::future_status::ready);
    const auto r = caller.get();
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(std::memcmp(buf.data() + 24, "nvmecuse Emulated", 17), 0);
    ASSERT_EQ(stopping.wait_for(bounded), std::future_status::ready);
    EXPECT_TRUE(nodes_.at(ctrl_node).kernel->wait_closed());
}

TEST_F(CuseSession, StopAnswersRequestsInFlight)
{
    node(ctrl_node);
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    OwnerGate gate(*ctrl_);
    auto caller = std::async(std::launch::async,
                             [&] { return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd); });
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->in_flight == 1; }));
    registry_->stop(); // the command cannot finish: ENODEV after the drain grace
    ASSERT_EQ(caller.wait_for(bounded), std::future_status::ready);
    EXPECT_EQ(caller.get().error, ENODEV);
    EXPECT_TRUE(nodes_.at(ctrl_node).kernel->wait_closed());
    EXPECT_TRUE(registry_->devnames().empty());
    gate.open(); // the command completes after its caller was answered: dropped
    registry_.reset();
    EXPECT_TRUE(std::ranges::all_of(buf, [](std::byte b) { return b == std::byte{0xAA}; }));
}

// ---- caps on the bytes in flight (cuse/inflight_budget.hpp) ---------------

/// A 4 KiB cap per process, and per node.
class CuseSessionInflightCap : public CuseSession {
protected:
    [[nodiscard]] InflightLimits inflight_limits() const override
    {
        return InflightLimits{.per_node = node_cap, .per_process = process_cap};
    }
    std::uint64_t node_cap = std::uint64_t{1} << 30;
    std::uint64_t process_cap = std::uint64_t{1} << 30;
};

FakeCuseKernel::IoctlOptions as_process(pid_t pid)
{
    FakeCuseKernel::IoctlOptions o;
    o.pid = pid;
    return o;
}

class CuseSessionProcessCap : public CuseSessionInflightCap {
public:
    CuseSessionProcessCap() { process_cap = 4096; }
};

class CuseSessionNodeCap : public CuseSessionInflightCap {
public:
    CuseSessionNodeCap() { node_cap = 4096; }
};

// One process's commands in flight hold at most its cap; past it EAGAIN,
// while another process is still served, and the room comes back when the
// commands finish.
TEST_F(CuseSessionProcessCap, AProcessPastItsCapGetsEagainOthersAreServed)
{
    node(ctrl_node);
    std::vector<std::byte> held_buf(4096), second_buf(4096), other_buf(4096);
    auto held_cmd = identify_ctrl(held_buf.data());
    auto second_cmd = identify_ctrl(second_buf.data());
    auto other_cmd = identify_ctrl(other_buf.data());
    const pid_t me = ::getpid();
    OwnerGate gate(*ctrl_);
    auto held = std::async(std::launch::async, [&] {
        return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &held_cmd, as_process(me));
    });
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->in_flight == 1; }));
    EXPECT_EQ(registry_->stats(ctrl_node)->in_flight_bytes, 4096u);

    const auto refused = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &second_cmd, as_process(me));
    EXPECT_EQ(refused.ret, -1);
    EXPECT_EQ(refused.error, EAGAIN);
    EXPECT_EQ(registry_->stats(ctrl_node)->over_budget, 1u);

    // Another process (a thread id stands for one) has room of its own.
    auto other = std::async(std::launch::async,
                            [&] { return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &other_cmd); });
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->in_flight == 2; }));
    gate.open();
    ASSERT_EQ(held.wait_for(bounded), std::future_status::ready);
    ASSERT_EQ(other.wait_for(bounded), std::future_status::ready);
    EXPECT_EQ(held.get().ret, 0);
    EXPECT_EQ(other.get().ret, 0);
    EXPECT_EQ(registry_->stats(ctrl_node)->in_flight_bytes, 0u);
    EXPECT_EQ(InflightBudget::process_bytes(me), 0u);

    const auto again = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &second_cmd, as_process(me));
    EXPECT_EQ(again.ret, 0) << again.error;
    EXPECT_EQ(std::memcmp(second_buf.data() + 24, "nvmecuse Emulated", 17), 0);
}

// A command larger than the cap still runs when nothing else is in flight:
// a synchronous caller never sees EAGAIN.
TEST_F(CuseSessionProcessCap, ACommandLargerThanTheCapRunsAlone)
{
    std::vector<std::byte> buf(64 * 1024);
    auto io = user_io(0x02, 0, 128, buf.data());
    const auto r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &io);
    EXPECT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(registry_->stats(ns1_node)->over_budget, 0u);
}

TEST_F(CuseSessionNodeCap, ANodePastItsCapGetsEagainForEveryProcess)
{
    node(ctrl_node);
    node(ns1_node);
    std::vector<std::byte> held_buf(4096), other_buf(4096);
    auto held_cmd = identify_ctrl(held_buf.data());
    auto other_cmd = identify_ctrl(other_buf.data());
    OwnerGate gate(*ctrl_);
    auto held = std::async(std::launch::async,
                           [&] { return ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &held_cmd); });
    ASSERT_TRUE(wait_for([&] { return registry_->stats(ctrl_node)->in_flight == 1; }));
    const auto refused = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &other_cmd);
    EXPECT_EQ(refused.error, EAGAIN);
    // The namespace node's budget is its own.
    std::vector<std::byte> ns_buf(4096);
    auto ns_cmd = identify_ctrl(ns_buf.data());
    auto on_ns = std::async(std::launch::async,
                            [&] { return ioctl(ns1_node, NVME_IOCTL_ADMIN_CMD, &ns_cmd); });
    ASSERT_TRUE(wait_for([&] {
        auto s = registry_->stats(ns1_node);
        return s && s->in_flight == 1;
    }));
    gate.open();
    ASSERT_EQ(held.wait_for(bounded), std::future_status::ready);
    ASSERT_EQ(on_ns.wait_for(bounded), std::future_status::ready);
    EXPECT_EQ(held.get().ret, 0);
    EXPECT_EQ(on_ns.get().ret, 0);
}

// ---- a lost connection: what the nodes answer (cuse/path_gate.hpp) -------

/// The emulated transport behind a connection that can be lost (while
/// idle) and whose reconnects are refused until allowed again.
class LosableConnection final : public transport::Transport {
public:
    explicit LosableConnection(std::unique_ptr<transport::Transport> inner)
        : inner_(std::move(inner)), event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
    {
    }
    ~LosableConnection() override { ::close(event_); }
    LosableConnection(const LosableConnection&) = delete;
    LosableConnection& operator=(const LosableConnection&) = delete;

    /// Any thread: the connection drops; reconnects are refused.
    void lose()
    {
        refusing_ = true;
        lost_ = true;
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(event_, &one, sizeof one);
    }
    void accept_reconnects() { refusing_ = false; }
    /// Each refused connect first hangs this long (a target that does not
    /// answer the TCP handshake).
    void hang_connects(std::chrono::milliseconds hang) { hang_ = hang; }
    /// A connect is hanging now.
    [[nodiscard]] bool connecting() const { return connecting_; }

    const transport::TransportInfo& info() const override { return inner_->info(); }
    std::uint64_t read_register(std::uint32_t o) override { return inner_->read_register(o); }
    void write_register(std::uint32_t o, std::uint64_t v) override { inner_->write_register(o, v); }
    std::expected<void, std::error_code> connect_admin() override
    {
        if (refusing_) {
            connecting_ = true;
            std::this_thread::sleep_for(hang_.load());
            connecting_ = false;
            return std::unexpected(std::make_error_code(std::errc::connection_refused));
        }
        return inner_->connect_admin();
    }
    transport::QueuePair& admin_queue() override { return inner_->admin_queue(); }
    std::expected<std::unique_ptr<transport::QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
        return inner_->create_io_queue(qid, depth);
    }
    void disconnect() override
    {
        lost_ = false;
        inner_->disconnect();
    }
    int event_fd() const override { return event_; }
    void handle_event() override
    {
        std::uint64_t count;
        [[maybe_unused]] auto n = ::read(event_, &count, sizeof count);
    }
    bool connection_lost() const override { return lost_; }

private:
    std::unique_ptr<transport::Transport> inner_;
    int event_;
    std::atomic<bool> refusing_{false};
    std::atomic<bool> lost_{false};
    std::atomic<std::chrono::milliseconds> hang_{std::chrono::milliseconds(0)};
    std::atomic<bool> connecting_{false};
};

class CuseSessionLostConnection : public CuseSessionModes {
protected:
    std::unique_ptr<transport::Transport> decorate(std::unique_ptr<transport::Transport> t) override
    {
        auto c = std::make_unique<LosableConnection>(std::move(t));
        connection_ = c.get();
        return c;
    }
    [[nodiscard]] ctrlr::Controller::Options controller_options() const override
    {
        auto o = CuseSession::controller_options();
        o.reconnect_delay = 100ms;
        o.ctrl_loss_tmo = ctrl_loss_tmo_;
        return o;
    }
    /// Loses the connection with the nodes open; true once `state`.
    bool lose_until(ctrlr::Controller::PathState state)
    {
        node(ctrl_node);
        node(ns1_node);
        connection_->lose();
        return wait_for([&] { return ctrl_->path_state() == state; }, 5s);
    }

    std::chrono::milliseconds ctrl_loss_tmo_ = 60s;
    LosableConnection* connection_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Serving, CuseSessionLostConnection, ::testing::Values(Serving::reader_threads, Serving::owner_thread,
                                           Serving::serving_threads),
                         serving_name);

TEST_P(CuseSessionLostConnection, ReconnectingNodesAnswerAtOnceAsTheKernelHostDoes)
{
    ASSERT_TRUE(lose_until(ctrlr::Controller::PathState::reconnecting));
    std::vector<std::byte> buf(4096);
    const auto t0 = std::chrono::steady_clock::now();
    // The controller node: passthrough fails with Host Path Error (0x370),
    // a new open with EAGAIN, RESCAN does nothing.
    auto identify = identify_ctrl(buf.data());
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &identify).ret, 0x370);
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_RESCAN, nullptr).ret, 0);
    const auto reopened = nodes_.at(ctrl_node).kernel->open(O_RDONLY);
    ASSERT_FALSE(reopened);
    EXPECT_EQ(reopened.error(), EAGAIN);
    // The namespace node is a head without a live path: EAGAIN for every
    // NVMe ioctl, the block layer's ioctls still answer.
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).error, EAGAIN);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ADMIN_CMD, &identify).error, EAGAIN);
    auto read = user_io(0x02, 0, 1, buf.data());
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &read).error, EAGAIN);
    int ssz = 0;
    EXPECT_EQ(ioctl(ns1_node, BLKSSZGET, &ssz).ret, 0);
    EXPECT_EQ(ssz, 512);
    std::uint64_t bytes = 0;
    EXPECT_EQ(ioctl(ns1_node, BLKGETSIZE64, &bytes).ret, 0);
    EXPECT_EQ(bytes, ns_size);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

    // Reconnected: everything as before.
    connection_->accept_reconnects();
    ASSERT_TRUE(wait_for([&] { return ctrl_->path_state() == ctrlr::Controller::PathState::live; }, 5s));
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &identify).ret, 0);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).ret, 1);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &read).ret, 0);
    EXPECT_TRUE(nodes_.at(ctrl_node).kernel->open(O_RDONLY));
}

// Issue 19: a controller whose reconnect hangs slows no other controller
// served by the same threads (with serving threads, the very same reactors).
TEST_P(CuseSessionLostConnection, AnotherControllerKeepsServingWhileOneReconnectHangs)
{
    emu::ControllerConfig config;
    emu::NamespaceConfig ns;
    ns.nsid = 1;
    ns.size_bytes = ns_size;
    ns.lba_data_size = 512;
    config.namespaces = {ns};
    auto transport = emu::make_transport(config);
    ASSERT_TRUE(transport) << transport.error().message();
    ctrlr::Controller::Options options;
    options.name = "cuse-test-b";
    for (const auto& r : reactors_)
        options.reactors.push_back(r.get());
    auto other = ctrlr::Controller::start(std::move(*transport), options);
    ASSERT_TRUE(other) << other.error().message();
    RegistryOptions o = registry_options();
    o.controller_index = 1;
    auto other_nodes = Registry::create(**other, std::move(o));
    ASSERT_TRUE(other_nodes) << other_nodes.error().message();
    const std::string other_ns = "nvmecuse/nvme1n1";
    std::vector<std::byte> buf(4096);
    auto read = user_io(0x02, 0, 7, buf.data());
    ASSERT_EQ(ioctl(other_ns, NVME_IOCTL_SUBMIT_IO, &read).ret, 0);

    // Every reconnect attempt of the first controller hangs for 2 s.
    connection_->hang_connects(2s);
    ASSERT_TRUE(lose_until(ctrlr::Controller::PathState::reconnecting));
    ASSERT_TRUE(wait_for([&] { return connection_->connecting(); }, 5s));
    for (int i = 0; i < 20; ++i) {
        auto r = user_io(0x02, static_cast<std::uint64_t>(i) * 8, 7, buf.data());
        ASSERT_EQ(ioctl(other_ns, NVME_IOCTL_SUBMIT_IO, &r).ret, 0) << i;
        // The reconnecting controller's own node answers at once too.
        EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).error, EAGAIN) << i;
    }
    // All of it while the attempt still hung: nothing waited for it.
    EXPECT_TRUE(connection_->connecting());
    other_nodes->reset();
    other->reset();
}

class CuseSessionControllerLoss : public CuseSessionLostConnection {
protected:
    CuseSessionControllerLoss() { ctrl_loss_tmo_ = 300ms; }
};

INSTANTIATE_TEST_SUITE_P(Serving, CuseSessionControllerLoss, ::testing::Values(Serving::reader_threads, Serving::owner_thread,
                                           Serving::serving_threads),
                         serving_name);

TEST_P(CuseSessionControllerLoss, PastCtrlLossTmoNodesAnswerAsADeletedController)
{
    ASSERT_TRUE(lose_until(ctrlr::Controller::PathState::lost));
    std::vector<std::byte> buf(4096);
    // The admin queue is gone (ENODEV), and so are the namespaces.
    auto identify = identify_ctrl(buf.data());
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &identify).error, ENODEV);
    nvme_passthru_cmd io{};
    io.opcode = 0x02;
    io.nsid = 1;
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_IO_CMD, &io).error, ENOTTY);
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_ID, nullptr).error, ENOTTY);
    EXPECT_EQ(ioctl(ctrl_node, NVME_IOCTL_RESCAN, nullptr).ret, 0);
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_ID, nullptr).error, EAGAIN);
    // The capacity is 0, the block size stays.
    std::uint64_t bytes = 1;
    EXPECT_EQ(ioctl(ns1_node, BLKGETSIZE64, &bytes).ret, 0);
    EXPECT_EQ(bytes, 0u);
    int ssz = 0;
    EXPECT_EQ(ioctl(ns1_node, BLKSSZGET, &ssz).ret, 0);
    EXPECT_EQ(ssz, 512);
}

/// Restricted ioctls (RegistryOptions::restricted_ioctls): the kernel sends
/// the argument struct with the request, and there is no retry protocol.
// ---- command buffers come from the transport's device memory -------------

/// Device memory that counts what it hands out and can run dry.
class CountingMemory final : public transport::DeviceMemory, public transport::DataBuffer::Releaser {
public:
    std::expected<transport::DataBuffer, std::error_code> allocate(std::size_t size) override
    {
        if (exhausted.load()) return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
        if (throws.load()) throw std::bad_alloc();
        auto* p = static_cast<std::byte*>(std::malloc(std::max<std::size_t>(size, 1)));
        allocations.fetch_add(1);
        live.fetch_add(1);
        return transport::DataBuffer(p, size, 0x1000, *this);
    }
    void release(std::byte* bytes, std::size_t) noexcept override
    {
        live.fetch_sub(1);
        std::free(bytes);
    }
    std::atomic<bool> exhausted{false};
    std::atomic<bool> throws{false}; ///< allocate() throws std::bad_alloc
    std::atomic<int> allocations{0};
    std::atomic<int> live{0};
};

/// A transport that is the emulated one, with its memory replaced.
class WithMemory final : public transport::Transport {
public:
    WithMemory(std::unique_ptr<transport::Transport> inner, transport::DeviceMemory& memory)
        : inner_(std::move(inner)), memory_(memory)
    {
    }
    const transport::TransportInfo& info() const override { return inner_->info(); }
    std::uint64_t read_register(std::uint32_t o) override { return inner_->read_register(o); }
    void write_register(std::uint32_t o, std::uint64_t v) override { inner_->write_register(o, v); }
    std::expected<void, std::error_code> connect_admin() override { return inner_->connect_admin(); }
    transport::QueuePair& admin_queue() override { return inner_->admin_queue(); }
    transport::DeviceMemory& memory() override { return memory_; }
    std::expected<std::unique_ptr<transport::QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
        return inner_->create_io_queue(qid, depth);
    }
    void disconnect() override { inner_->disconnect(); }

private:
    std::unique_ptr<transport::Transport> inner_;
    transport::DeviceMemory& memory_;
};

class CuseSessionDeviceMemory : public CuseSessionModes {
protected:
    std::unique_ptr<transport::Transport> decorate(std::unique_ptr<transport::Transport> t) override
    {
        return std::make_unique<WithMemory>(std::move(t), memory_);
    }
    CountingMemory memory_;
};

INSTANTIATE_TEST_SUITE_P(Serving, CuseSessionDeviceMemory, ::testing::Values(Serving::reader_threads, Serving::owner_thread,
                                           Serving::serving_threads),
                         serving_name);

TEST_P(CuseSessionDeviceMemory, CommandBuffersComeFromTheTransportAndGoBack)
{
    for (const pid_t pid : {pid_t{0}, no_such_pid}) {
        SCOPED_TRACE(pid == 0 ? "fast path" : "retry path");
        std::vector<std::byte> out(8 * 512, std::byte{0x5a});
        std::vector<std::byte> in(out.size());
        auto w = user_io(0x01, 300, 8, out.data());
        auto r = user_io(0x02, 300, 8, in.data());
        const int before = memory_.allocations.load();
        ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w, via_pid(pid)).ret, 0);
        ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid)).ret, 0);
        EXPECT_EQ(in, out);
        EXPECT_GE(memory_.allocations.load() - before, 2) << "the write's and the read's data";
        EXPECT_TRUE(wait_for([&] { return memory_.live.load() == 0; })) << "every buffer went back";
    }
}

TEST_P(CuseSessionDeviceMemory, NoMemoryLeftIsEnomemAndTheNodeGoesOn)
{
    std::vector<std::byte> in(4096);
    auto r = user_io(0x02, 0, 8, in.data());
    memory_.exhausted = true;
    for (const pid_t pid : {pid_t{0}, no_such_pid}) {
        SCOPED_TRACE(pid == 0 ? "fast path" : "retry path");
        const auto res = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid));
        EXPECT_EQ(res.ret, -1);
        EXPECT_EQ(res.error, ENOMEM);
    }
    memory_.exhausted = false;
    EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r).ret, 0);
}

// std::bad_alloc never unwinds through libfuse: the caller gets ENOMEM,
// and the node goes on. Both a plain read and one split at MDTS (whose
// parts are allocated after the request is tracked).
TEST_P(CuseSessionDeviceMemory, AnAllocationThatThrowsIsEnomemAndTheNodeGoesOn)
{
    const std::uint64_t mdts = ctrl_->info()->max_transfer;
    ASSERT_GT(mdts, 0u);
    const auto blocks = static_cast<std::uint16_t>(2 * mdts / 512);
    std::vector<std::byte> in(2 * mdts);
    for (const std::uint16_t n : {std::uint16_t{8}, blocks}) {
        auto r = user_io(0x02, 0, n, in.data());
        for (const pid_t pid : {pid_t{0}, no_such_pid}) {
            if (pid != 0 && n == blocks) continue; // past what FUSE's retry protocol carries
            SCOPED_TRACE(::testing::Message() << (pid == 0 ? "fast path, " : "retry path, ")
                                              << n << " blocks");
            memory_.throws = true;
            const auto res = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid));
            memory_.throws = false;
            EXPECT_EQ(res.ret, -1);
            EXPECT_EQ(res.error, ENOMEM);
            EXPECT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &r, via_pid(pid)).ret, 0);
        }
    }
    EXPECT_EQ(registry_->stats(ns1_node)->in_flight, 0u);
}

class CuseSessionRestricted : public CuseSessionModes {
protected:
    [[nodiscard]] bool restricted() const override { return true; }
};

INSTANTIATE_TEST_SUITE_P(Serving, CuseSessionRestricted, ::testing::Values(Serving::reader_threads, Serving::owner_thread,
                                           Serving::serving_threads),
                         serving_name);

TEST_P(CuseSessionRestricted, TheStructComesWithTheRequestNotFromTheCallersMemory)
{
    // A Flush moves no data: with the struct in the request, not even a
    // caller whose memory cannot be reached needs anything else.
    nvme_passthru_cmd flush{};
    flush.opcode = 0x00;
    flush.nsid = 1;
    node(ns1_node);
    const auto before = ioctl_requests(ns1_node);
    const auto r = ioctl(ns1_node, NVME_IOCTL_IO_CMD, &flush, via_pid(no_such_pid));
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(ioctl_requests(ns1_node) - before, 1u);
    EXPECT_EQ(registry_->stats(ns1_node)->fast_path, 1u);
}

TEST_P(CuseSessionRestricted, DataResultsAndValuesMoveAsOnTheFastPath)
{
    std::vector<std::byte> out(8 * 512);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::byte(i * 5 + 3);
    auto w = user_io(0x01, 300, 8, out.data());
    const auto wr = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &w); // _IOW: copied in only
    ASSERT_EQ(wr.ret, 0) << wr.error;
    EXPECT_EQ(wr.requests, 1u);
    std::vector<std::byte> in(out.size());
    nvme_passthru_cmd64 rd{};
    rd.opcode = 0x02;
    rd.nsid = 1;
    rd.addr = addr(in.data());
    rd.data_len = static_cast<std::uint32_t>(in.size());
    rd.cdw10 = 300;
    rd.cdw12 = 7;
    rd.result = ~0ull;
    const auto r = ioctl(ns1_node, NVME_IOCTL_IO64_CMD, &rd);
    ASSERT_EQ(r.ret, 0) << r.error;
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(in, out);
    EXPECT_EQ(rd.result, 0u); // written back although the reply carries no out bytes

    std::vector<std::byte> id(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(id.data());
    cmd.result = 0xdeadbeef;
    ASSERT_EQ(ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd).ret, 0);
    EXPECT_EQ(cmd.result, 0u);
    EXPECT_EQ(std::memcmp(id.data() + 24, "nvmecuse Emulated", 17), 0);

    std::vector<std::byte> big(1u << 20, std::byte{0x77}); // past FUSE's 128 KiB
    auto whole = user_io(0x02, 4096, static_cast<std::uint16_t>(big.size() / 512), big.data());
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &whole).ret, 0);
    EXPECT_TRUE(std::ranges::all_of(big, [](std::byte b) { return b == std::byte{0}; }));

    EXPECT_EQ(ioctl(ns2_node, NVME_IOCTL_ID, nullptr).ret, 2);
    std::uint64_t bytes = 0;
    EXPECT_EQ(ioctl(ns2_node, BLKGETSIZE64, &bytes).ret, 0); // _IOR, written by the daemon
    EXPECT_EQ(bytes, ns_size);
    int ssz = 0;
    EXPECT_EQ(ioctl(ns2_node, BLKSSZGET, &ssz).ret, 0); // _IO: nothing copied by the kernel
    EXPECT_EQ(ssz, 4096);
    EXPECT_EQ(retries(ns1_node) + retries(ns2_node) + retries(ctrl_node), 0u);
}

TEST_P(CuseSessionRestricted, UnreachableBuffersFailAtOnceAndTheNodeGoesOn)
{
    // A buffer that is not mapped: EFAULT, as the kernel's own copy reports.
    auto wr = user_io(0x01, 0, 1, reinterpret_cast<void*>(std::uintptr_t{8}));
    const auto commands = registry_->stats(ns1_node)->commands;
    auto r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &wr);
    EXPECT_EQ(r.error, EFAULT);
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(registry_->stats(ns1_node)->commands, commands); // nothing ran
    // A caller whose memory process_vm_* may not reach: EIO before anything
    // runs, never a RETRY (which the kernel would refuse with EIO, after a
    // wasted round trip). (A read finds out only when delivering: EFAULT.)
    std::vector<std::byte> data(512, std::byte{0x5A});
    wr = user_io(0x01, 0, 1, data.data());
    r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &wr, via_pid(no_such_pid));
    EXPECT_EQ(r.error, EIO);
    EXPECT_EQ(r.requests, 1u);
    EXPECT_EQ(registry_->stats(ns1_node)->commands, commands);
    EXPECT_EQ(retries(ns1_node), 0u);
    // The same ioctl from a reachable caller works.
    r = ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &wr);
    ASSERT_EQ(r.ret, 0) << r.error;
    std::vector<std::byte> back(512);
    auto rd = user_io(0x02, 0, 1, back.data());
    ASSERT_EQ(ioctl(ns1_node, NVME_IOCTL_SUBMIT_IO, &rd).ret, 0);
    EXPECT_EQ(back, data);
}

TEST_P(CuseSessionRestricted, RefusalsMatchTheKernelWhenTheArgumentIsReadable)
{
    privileged_ = false;
    std::vector<std::byte> buf(4096, std::byte{0xAA});
    auto cmd = identify_ctrl(buf.data());
    auto r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    EXPECT_EQ(r.error, EACCES);
    EXPECT_EQ(buf[0], std::byte{0xAA});
    privileged_ = true;
    std::array<char, 68> compat32{}; // the 32-bit layout's request number: not ours
    r = ioctl(ctrl_node, _IOWR('N', 0x41, char[68]), compat32.data());
    EXPECT_EQ(r.error, ENOTTY);
    r = ioctl(ctrl_node, _IO('N', 0x7f), nullptr);
    EXPECT_EQ(r.error, ENOTTY);
    cmd.flags = 1;
    r = ioctl(ctrl_node, NVME_IOCTL_ADMIN_CMD, &cmd);
    EXPECT_EQ(r.error, EINVAL);
    // The one difference to the kernel's driver: the kernel copies an
    // encoded argument before the node sees the number, so a bad pointer
    // is EFAULT where the driver would have said ENOTTY.
    r = ioctl(ctrl_node, _IOWR('N', 0x41, char[68]), reinterpret_cast<void*>(std::uintptr_t{8}));
    EXPECT_EQ(r.error, EFAULT);
}

} // namespace
} // namespace nvmecuse::cuse
