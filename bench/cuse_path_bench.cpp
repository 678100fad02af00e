// The daemon's whole per-ioctl path on the host, without the kernel: a 4 KiB
// NVME_IOCTL_IO_CMD read on a namespace node (decode → caller memory →
// submit → emulated controller → complete → copy out → reply), served on
// the controller's owner thread as nvmecused serves it by default. The
// CUSE channel is a socketpair whose other end is the test suite's fake
// kernel (tests/unit/fake_cuse_kernel), which sends FUSE_IOCTL and waits for
// the reply as the kernel does; the caller's buffers are this process's.
//
// Beside it, in the same run: a memcpy of the same bytes, and the bare
// round trip of the channel (one FUSE_IOCTL answered by a server thread that
// does nothing else), the floor any CUSE server pays on this machine.
//
// Counting allocation functions (malloc and everything built on it: operator
// new, libfuse's requests) report `allocs_per_ioctl`: allocations made on
// the serving thread per ioctl in the steady state (the fake kernel's own
// and the emulated device's are not counted).
//
//   build/release/bench/cuse_path_bench --benchmark_min_time=1

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/nvme_ioctl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/device.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "fake_cuse_kernel.hpp"

using namespace nvmecuse;

// ---- counting allocator -----------------------------------------------------

namespace {

/// Allocations made by one thread, and that thread.
struct ThreadAllocs {
    pthread_t thread{};
    std::atomic<std::uint64_t> count{0};
};

/// Fixed storage: registering must not allocate (it runs inside operator new).
constexpr std::size_t max_threads = 256;
ThreadAllocs g_threads[max_threads];
std::atomic<std::size_t> g_thread_count{0};

ThreadAllocs* this_thread_allocs() noexcept
{
    thread_local ThreadAllocs* mine = [] {
        const std::size_t i = g_thread_count.fetch_add(1);
        if (i >= max_threads) return static_cast<ThreadAllocs*>(nullptr);
        g_threads[i].thread = pthread_self();
        return &g_threads[i];
    }();
    return mine;
}

void count_allocation() noexcept
{
    if (ThreadAllocs* t = this_thread_allocs()) t->count.fetch_add(1, std::memory_order_relaxed);
}

/// Allocations so far by live threads whose name starts with `prefix`.
std::uint64_t allocations_of(const char* prefix)
{
    std::uint64_t total = 0;
    const std::size_t n = std::min(g_thread_count.load(), max_threads);
    for (std::size_t i = 0; i < n; ++i) {
        char name[16] = {};
        if (pthread_getname_np(g_threads[i].thread, name, sizeof name) != 0) continue;
        if (std::strncmp(name, prefix, std::strlen(prefix)) == 0) total += g_threads[i].count.load();
    }
    return total;
}

} // namespace

// The allocation functions themselves are replaced (an executable's
// definitions take the place of libc's for every library, libfuse and
// libstdc++'s operator new included), each counting, then calling glibc's.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t size)
{
    count_allocation();
    return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size)
{
    count_allocation();
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size)
{
    count_allocation();
    return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t align, std::size_t size)
{
    count_allocation();
    return __libc_memalign(align, size);
}
void* memalign(std::size_t align, std::size_t size)
{
    count_allocation();
    return __libc_memalign(align, size);
}
int posix_memalign(void** out, std::size_t align, std::size_t size)
{
    count_allocation();
    void* p = __libc_memalign(align, size);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p)
{
    __libc_free(p);
}
}

// ---- the benchmarks ---------------------------------------------------------

namespace {

constexpr std::size_t block = 4096;
constexpr std::size_t blocks_in_namespace = (64u << 20) / block;
/// The owner thread is named after the controller (ctrlr/owner_loop.cpp).
constexpr const char* serving_thread = "cusebench";

int socket_pair(int (&sv)[2])
{
    return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

struct Node {
    std::unique_ptr<ctrlr::Reactor> reactor; ///< last to go: the others use it
    std::unique_ptr<ctrlr::Controller> controller;
    std::unique_ptr<cuse::Device> device;
    std::unique_ptr<testing::FakeCuseKernel> kernel;
    std::uint64_t fh = 0;
};

/// A node served on the controller's owner thread, or on a serving thread
/// with a queue pair of its own (`on_reactor`). Either way the serving
/// thread is named `serving_thread`.
Node start_node(bool on_reactor)
{
    Node n;
    emu::ControllerConfig config;
    emu::NamespaceConfig ns;
    ns.size_bytes = blocks_in_namespace * block;
    ns.lba_data_size = block;
    config.namespaces = {ns};
    auto transport = emu::make_transport(config);
    if (!transport) std::abort();
    ctrlr::Controller::Options options;
    options.name = serving_thread;
    if (on_reactor) {
        auto r = ctrlr::Reactor::start(serving_thread, 0);
        if (!r) std::abort();
        n.reactor = std::move(*r);
        options.name = "owner";
        options.reactors = {n.reactor.get()};
    }
    auto c = ctrlr::Controller::start(std::move(*transport), options);
    if (!c) std::abort();
    n.controller = std::move(*c);
    int sv[2];
    if (socket_pair(sv) != 0) std::abort();
    cuse::DeviceOptions o;
    o.kind = cuse::NodeKind::namespace_node;
    o.nsid = 1;
    o.devname = "nvmecuse/nvme0n1";
    o.serve_on_owner_thread = !on_reactor;
    o.reactors = options.reactors;
    o.permissions.apply = false;
    auto d = cuse::Device::start(*n.controller, o, sv[1]);
    if (!d) std::abort();
    n.device = std::move(*d);
    n.kernel = std::make_unique<testing::FakeCuseKernel>(sv[0]);
    if (!n.kernel->init()) std::abort();
    auto fh = n.kernel->open(O_RDWR);
    if (!fh) std::abort();
    n.fh = *fh;
    return n;
}

nvme_passthru_cmd64 read_command(std::vector<std::byte>& buffer, std::uint64_t slba)
{
    nvme_passthru_cmd64 cmd{};
    cmd.opcode = 0x02; // Read
    cmd.nsid = 1;
    cmd.cdw10 = static_cast<std::uint32_t>(slba);
    cmd.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    cmd.cdw12 = 0; // one block
    cmd.addr = reinterpret_cast<std::uintptr_t>(buffer.data());
    cmd.data_len = static_cast<std::uint32_t>(buffer.size());
    return cmd;
}

void BM_Memcpy4K(benchmark::State& state)
{
    std::vector<std::byte> src(blocks_in_namespace * block), dst(block);
    std::memset(src.data(), 1, src.size());
    std::size_t offset = 0;
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data() + offset, block);
        benchmark::DoNotOptimize(dst.data());
        offset = (offset + block * 7) % src.size();
    }
}
BENCHMARK(BM_Memcpy4K);

/// The floor: one FUSE_IOCTL over the socketpair answered at once by a
/// thread that only reads and replies (no decode, no controller).
void BM_ChannelRoundTrip(benchmark::State& state)
{
    int sv[2];
    if (socket_pair(sv) != 0) std::abort();
    std::thread server([fd = sv[1]] {
        std::vector<char> buf(1 << 16);
        for (;;) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n <= 0) return;
            fuse_in_header in{};
            std::memcpy(&in, buf.data(), sizeof in);
            struct {
                fuse_out_header h;
                fuse_ioctl_out o;
            } reply{};
            reply.h.len = sizeof reply;
            reply.h.unique = in.unique;
            if (::write(fd, &reply, sizeof reply) != static_cast<ssize_t>(sizeof reply)) return;
        }
    });
    struct {
        fuse_in_header h;
        fuse_ioctl_in i;
    } request{};
    request.h.len = sizeof request;
    request.h.opcode = FUSE_IOCTL;
    std::vector<char> reply(1 << 16);
    for (auto _ : state) {
        ++request.h.unique;
        if (::write(sv[0], &request, sizeof request) != static_cast<ssize_t>(sizeof request))
            std::abort();
        if (::read(sv[0], reply.data(), reply.size()) <= 0) std::abort();
    }
    ::shutdown(sv[0], SHUT_RDWR);
    server.join();
    ::close(sv[0]);
    ::close(sv[1]);
}
BENCHMARK(BM_ChannelRoundTrip)->UseRealTime();

/// 4 KiB passthrough reads through the whole daemon path, one at a time;
/// argument 0: served on the controller's owner thread, 1: on a serving
/// thread with its own queue pair.
void BM_CuseIoCmdRead4K(benchmark::State& state)
{
    Node n = start_node(state.range(0) != 0);
    std::vector<std::byte> buffer(block);
    std::uint64_t slba = 0;
    // Warm up: pools, caches and the kernel side's buffers reach their size.
    for (int i = 0; i < 2000; ++i) {
        auto cmd = read_command(buffer, slba++ % blocks_in_namespace);
        if (n.kernel->ioctl(n.fh, NVME_IOCTL_IO64_CMD, &cmd).ret != 0) std::abort();
    }
    const std::uint64_t allocs_before = allocations_of(serving_thread);
    std::uint64_t ioctls = 0;
    for (auto _ : state) {
        auto cmd = read_command(buffer, slba++ % blocks_in_namespace);
        const auto r = n.kernel->ioctl(n.fh, NVME_IOCTL_IO64_CMD, &cmd);
        if (r.ret != 0) {
            state.SkipWithError("ioctl failed");
            break;
        }
        ++ioctls;
    }
    const std::uint64_t allocs = allocations_of(serving_thread) - allocs_before;
    state.counters["allocs_per_ioctl"] =
        ioctls == 0 ? 0.0 : static_cast<double>(allocs) / static_cast<double>(ioctls);
    const auto stats = n.device->stats();
    state.counters["fast_path_share"] =
        stats.ioctls_answered == 0
            ? 0.0
            : static_cast<double>(stats.fast_path) / static_cast<double>(stats.ioctls_answered);
    n.kernel.reset();
    n.device.reset();
    n.controller.reset();
}
BENCHMARK(BM_CuseIoCmdRead4K)->ArgName("serving_thread")->Arg(0)->Arg(1)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
