// The building blocks of the CUSE hot path, each beside the primitives it is
// built from, in one run (docs/performance.md):
//   - BM_EventfdPingPong: one thread wakes another through an eventfd and is
//     woken back: the cost of a cross-thread wake-up on this machine;
//   - BM_ControllerAdminRoundTrip: a data-less admin command (Get Features)
//     posted through the controller's mailbox and completed back: mailbox
//     post -> owner thread -> completion handler on the owner thread, one at
//     a time;
//   - BM_DecodeIo64 / BM_DecodeSubmitIo: the pure ioctl decoders (route +
//     kernel struct -> NVMe command).
//
//   build/release/bench/primitives_bench --benchmark_min_time=1

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <linux/nvme_ioctl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/decode.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

using namespace nvmecuse;

namespace {

void BM_EventfdPingPong(benchmark::State& state)
{
    const int ping = ::eventfd(0, EFD_CLOEXEC);
    const int pong = ::eventfd(0, EFD_CLOEXEC);
    std::atomic<bool> stop{false};
    std::thread echo([&] {
        std::uint64_t v = 0;
        while (::read(ping, &v, sizeof(v)) == sizeof(v) && !stop.load()) {
            v = 1;
            if (::write(pong, &v, sizeof(v)) != sizeof(v)) break;
        }
    });
    std::uint64_t v = 1;
    for (auto _ : state) {
        v = 1;
        if (::write(ping, &v, sizeof(v)) != sizeof(v) || ::read(pong, &v, sizeof(v)) != sizeof(v))
            state.SkipWithError("eventfd failed");
    }
    stop = true;
    v = 1;
    if (::write(ping, &v, sizeof(v)) != sizeof(v)) std::abort();
    echo.join();
    ::close(ping);
    ::close(pong);
}
BENCHMARK(BM_EventfdPingPong)->UseRealTime();

void BM_ControllerAdminRoundTrip(benchmark::State& state)
{
    auto transport = emu::make_transport(emu::ControllerConfig{});
    if (!transport) std::abort();
    auto ctrl = ctrlr::Controller::start(std::move(*transport), ctrlr::Controller::Options{});
    if (!ctrl) std::abort();
    for (auto _ : state) {
        nvme::SubmissionQueueEntry sqe{};
        sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::get_features);
        sqe.cdw10 = 0x07; // Number of Queues
        const auto r = (*ctrl)->execute(ctrlr::QueueKind::admin, ctrlr::Command::from_opcode(sqe));
        if (!r.ok()) state.SkipWithError("Get Features failed");
        benchmark::DoNotOptimize(r.dw0);
    }
}
BENCHMARK(BM_ControllerAdminRoundTrip)->UseRealTime();

cuse::NodeView namespace_node()
{
    cuse::NodeView node;
    node.kind = cuse::NodeKind::namespace_node;
    node.ns = cuse::NamespaceShape{1, 512, 0, false, 1ull << 30};
    return node;
}

void BM_DecodeIo64(benchmark::State& state)
{
    const auto route = cuse::classify(NVME_IOCTL_IO64_CMD, namespace_node());
    if (!route) std::abort();
    nvme_passthru_cmd64 cmd{};
    cmd.opcode = 0x02;
    cmd.nsid = 1;
    cmd.addr = 0x7f0000001000;
    cmd.data_len = 4096;
    cmd.cdw10 = 1234;
    cmd.cdw12 = 7;
    std::array<std::byte, sizeof(cmd)> bytes{};
    std::memcpy(bytes.data(), &cmd, sizeof(cmd));
    for (auto _ : state) {
        auto decoded = cuse::decode(*route, 0x7f0000000000, bytes);
        benchmark::DoNotOptimize(decoded);
    }
}
BENCHMARK(BM_DecodeIo64);

void BM_DecodeSubmitIo(benchmark::State& state)
{
    const auto route = cuse::classify(NVME_IOCTL_SUBMIT_IO, namespace_node());
    if (!route) std::abort();
    nvme_user_io io{};
    io.opcode = 0x02;
    io.nblocks = 7;
    io.addr = 0x7f0000001000;
    io.slba = 1234;
    std::array<std::byte, sizeof(io)> bytes{};
    std::memcpy(bytes.data(), &io, sizeof(io));
    for (auto _ : state) {
        auto decoded = cuse::decode(*route, 0x7f0000000000, bytes);
        benchmark::DoNotOptimize(decoded);
    }
}
BENCHMARK(BM_DecodeSubmitIo);

} // namespace

int main(int argc, char** argv)
{
    spdlog::set_level(spdlog::level::warn); // the controllers' start-up lines
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
