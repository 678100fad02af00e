// 4 KiB reads and writes through ctrlr::Controller on the emulated
// controller, posted from the benchmark thread through the mailbox to the
// controller's owner thread, at queue depth 1 and 32 — beside a plain memcpy
// of the same bytes in the same run (the baseline the ratio is taken against).
//
//   build/release/bench/controller_bench --benchmark_min_time=1

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

using namespace nvmecuse;

namespace {

constexpr std::size_t block = 4096;
/// Working set of both the baseline and the emulated namespace: the same
/// 64 MiB, touched before timing so neither side pays page faults.
constexpr std::size_t working_set = 64u << 20;

std::unique_ptr<ctrlr::Controller> start_controller()
{
    emu::ControllerConfig config;
    emu::NamespaceConfig ns;
    ns.size_bytes = 1ull << 30;
    ns.lba_data_size = 4096;
    config.namespaces = {ns};
    auto transport = emu::make_transport(config);
    ctrlr::Controller::Options options;
    options.name = "bench";
    if (!transport) std::abort();
    auto c = ctrlr::Controller::start(std::move(*transport), options);
    if (!c) std::abort();
    // Touch the working set once (one large write per MDTS-sized chunk).
    constexpr std::size_t chunk = 1u << 20;
    for (std::size_t off = 0; off < working_set; off += chunk) {
        nvme::SubmissionQueueEntry sqe{};
        sqe.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::write);
        sqe.nsid = 1;
        nvme::cmd::rw::set_slba(sqe, off / block);
        nvme::cmd::rw::set_num_blocks(sqe, chunk / block);
        auto r = (*c)->execute(ctrlr::QueueKind::io,
                               ctrlr::Command::from_opcode(sqe, ctrlr::DataBuffer::zeroed(chunk)));
        if (!r.ok()) std::abort();
    }
    return std::move(*c);
}

void BM_Memcpy4K(benchmark::State& state)
{
    std::vector<std::byte> src(working_set), dst(block);
    std::memset(src.data(), 1, src.size());
    std::size_t offset = 0;
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data() + offset, block);
        benchmark::DoNotOptimize(dst.data());
        offset = (offset + block) % src.size();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block));
}
BENCHMARK(BM_Memcpy4K);

/// Completion counter the owner thread bumps; it wakes the submitter only
/// when the count reaches the mark the submitter waits for, so one wake-up
/// covers a batch of completions (like fio's iodepth_batch_complete).
struct CompletionCounter {
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> wake_at{0};
    std::atomic<std::uint64_t> failed{0};

    /// The submitter reuses its I/O buffers, like fio's or SPDK perf's
    /// preallocated per-slot buffers: each completion hands its buffer back
    /// through a single-producer (owner) single-consumer (submitter) ring.
    std::array<ctrlr::DataBuffer, 64> returned;
    std::atomic<std::uint64_t> returned_head{0};
    std::atomic<std::uint64_t> returned_tail{0};

    void give_back(ctrlr::DataBuffer&& b)
    {
        const auto tail = returned_tail.load(std::memory_order_relaxed);
        if (tail - returned_head.load(std::memory_order_acquire) == returned.size()) return;
        returned[tail % returned.size()] = std::move(b);
        returned_tail.store(tail + 1, std::memory_order_release);
    }
    ctrlr::DataBuffer take()
    {
        const auto head = returned_head.load(std::memory_order_relaxed);
        if (head == returned_tail.load(std::memory_order_acquire)) return ctrlr::DataBuffer(block);
        auto b = std::move(returned[head % returned.size()]);
        returned_head.store(head + 1, std::memory_order_release);
        return b;
    }

    void on_completion(ctrlr::Result&& r)
    {
        give_back(std::move(r.data));
        if (!r.ok()) failed.fetch_add(1, std::memory_order_relaxed);
        const auto now = completed.fetch_add(1, std::memory_order_acq_rel) + 1;
        if (now == wake_at.load(std::memory_order_acquire)) completed.notify_one();
    }
    /// Submitter: blocks until at least `target` commands have completed.
    void wait_for(std::uint64_t target, bool poll)
    {
        if (poll) {
            // SPDK perf's way: the submitter's core spins on completions.
            while (completed.load(std::memory_order_acquire) < target)
                __builtin_ia32_pause();
            return;
        }
        wake_at.store(target, std::memory_order_release);
        for (auto done = completed.load(std::memory_order_acquire); done < target;
             done = completed.load(std::memory_order_acquire))
            completed.wait(done, std::memory_order_acquire);
    }
};

/// How the submitter waits when its window is full.
enum class Wait {
    sleep, ///< futex wait, woken by the completion that reaches its mark
    poll,  ///< spins on the completion counter (SPDK perf, fio's hipri)
};

/// Keeps up to `depth` commands in flight, posted from the benchmark thread
/// through the mailbox; when the window is full it waits until only a
/// quarter of it is still in flight (depth 1: for the one command), so the
/// owner thread still has work while the submitter wakes up.
void run_io(benchmark::State& state, nvme::NvmOpcode opcode, Wait wait)
{
    const bool poll = wait == Wait::poll;
    const auto depth = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t refill = depth > 1 ? depth - depth / 4 : 1;
    auto ctrl = start_controller();
    const std::uint64_t lbas = working_set / block;
    CompletionCounter counter;
    std::uint64_t issued = 0;
    std::uint64_t lba = 0;

    std::uint64_t known_done = 0;  // reload the shared counter only when the window looks full
    for (auto _ : state) {
        if (issued - known_done >= depth) {
            known_done = counter.completed.load(std::memory_order_acquire);
            if (issued - known_done >= depth) {
                counter.wait_for(issued - depth + refill, poll);
                known_done = counter.completed.load(std::memory_order_acquire);
            }
        }
        nvme::SubmissionQueueEntry sqe{};
        sqe.opc = static_cast<std::uint8_t>(opcode);
        sqe.nsid = 1;
        nvme::cmd::rw::set_slba(sqe, lba);
        nvme::cmd::rw::set_num_blocks(sqe, 1);
        lba = (lba + 1) % lbas;
        ctrl->submit(ctrlr::QueueKind::io,
                     ctrlr::Command::from_opcode(sqe, counter.take()),
                     [&counter](ctrlr::Result&& r) { counter.on_completion(std::move(r)); });
        ++issued;
    }
    counter.wait_for(issued, poll);
    if (counter.failed.load() != 0) state.SkipWithError("commands failed");
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block));
}

/// The emulated queue pair alone, driven on the benchmark thread (no owner
/// thread, no mailbox): what the emulation itself costs per 4 KiB command.
void BM_EmuQueuePairRead4K(benchmark::State& state)
{
    emu::ControllerConfig config;
    emu::NamespaceConfig ns;
    ns.size_bytes = working_set;
    ns.lba_data_size = 4096;
    config.namespaces = {ns};
    auto made = emu::make_transport(config);
    if (!made) std::abort();
    auto& transport = **made;
    // Enabled by hand, as the controller core does (ctrlr/controller_enable.cpp).
    if (!transport.connect_admin()) std::abort();
    transport.write_register(nvme::reg_offset::cc,
                             nvme::cc::Iocqes::set(nvme::cc::Iosqes::set(nvme::cc::En::set(0, true), 6), 4));
    // Number of Queues, then one I/O queue, as the controller core does.
    nvme::SubmissionQueueEntry nq{};
    nq.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::set_features);
    nq.cdw10 = static_cast<std::uint32_t>(nvme::FeatureId::number_of_queues);
    if (!transport.admin_queue().submit({.sqe = nq, .direction = nvme::DataTransfer::none,
                                         .data = {}, .metadata = {}}))
        std::abort();
    std::array<nvme::CompletionQueueEntry, 32> cqes{};
    (void)transport.admin_queue().reap(cqes);
    auto queue = transport.create_io_queue(1, 64);
    if (!queue) std::abort();
    std::vector<std::byte> buffer(block);
    std::uint16_t cid = 0;
    // Touch the working set once, as start_controller() does for the others:
    // reads of never-written blocks would hit the shared zero page.
    for (std::uint64_t lba = 0; lba < working_set / block; ++lba) {
        nvme::SubmissionQueueEntry sqe{};
        sqe.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::write);
        sqe.nsid = 1;
        sqe.cid = cid++;
        nvme::cmd::rw::set_slba(sqe, lba);
        if (!(*queue)->submit({.sqe = sqe, .direction = nvme::DataTransfer::host_to_controller,
                               .data = buffer, .metadata = {}}) ||
            (*queue)->reap(cqes) != 1)
            std::abort();
    }
    std::uint64_t lba = 0;
    for (auto _ : state) {
        nvme::SubmissionQueueEntry sqe{};
        sqe.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::read);
        sqe.nsid = 1;
        sqe.cid = cid++;
        nvme::cmd::rw::set_slba(sqe, lba);
        lba = (lba + 1) % (working_set / block);
        if (!(*queue)->submit({.sqe = sqe, .direction = nvme::DataTransfer::controller_to_host,
                               .data = buffer, .metadata = {}}))
            std::abort();
        if ((*queue)->reap(cqes) != 1) std::abort();
        benchmark::DoNotOptimize(buffer.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block));
}
BENCHMARK(BM_EmuQueuePairRead4K);

void BM_EmuRead4K(benchmark::State& state) { run_io(state, nvme::NvmOpcode::read, Wait::sleep); }
void BM_EmuWrite4K(benchmark::State& state) { run_io(state, nvme::NvmOpcode::write, Wait::sleep); }
void BM_EmuRead4KPolled(benchmark::State& state)
{
    run_io(state, nvme::NvmOpcode::read, Wait::poll);
}
void BM_EmuWrite4KPolled(benchmark::State& state)
{
    run_io(state, nvme::NvmOpcode::write, Wait::poll);
}
BENCHMARK(BM_EmuRead4K)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_EmuWrite4K)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_EmuRead4KPolled)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_EmuWrite4KPolled)->Arg(1)->Arg(32)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
