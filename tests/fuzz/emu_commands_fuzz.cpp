// The emulated controller's command handlers (transport/emu/) given
// arbitrary SQEs, on the admin or an I/O queue, with host buffers of
// arbitrary size, interleaved with controller resets and the passing of
// time, driven directly as tests/unit/emu_fixture.hpp does. Invariants:
// - every buffer is an exact-size heap allocation, so ASan reports any
//   write or read outside it; a host-to-controller buffer is never written;
// - Identify and Get Log Page write nothing past the bytes the command
//   asks for, a Read leaves zeroes there; a Read or Write succeeds only with
//   a buffer that holds its blocks, within the namespace;
// - every completion, immediate or through the async sink, has a valid
//   status (SCT 0, 1, 2, 3 or 7; CRD <= 3; the 15-bit field round-trips);
//   only an Asynchronous Event Request is deferred, and each deferred one
//   completes at most once;
// - the SMART byte counters never go down; namespaces keep NSIDs within NN
//   and their capacity within TNVMCAP.
//
// Input: one config byte, then up to 32 commands of 72 bytes each:
// action (1), fill (1), data bytes (2), metadata bytes (2), ms (2), SQE (64),
// and with action bit 5 the first 64 bytes of the data buffer.
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "nvmecuse/spec/nvme.hpp"
#include "transport/emu/emulated_controller.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse;
using namespace nvmecuse::emu;
using nvmecuse::fuzz::InputReader;

/// An exact-size heap buffer with a known fill, and a copy to compare with.
struct HostBuffer {
    // memset/memcpy/memcmp rather than loops: byte loops in instrumented
    // code cost most of the run time in comparison tracing.
    explicit HostBuffer(std::size_t n, std::uint8_t fill) : size(n), bytes(new std::byte[n]), before(n)
    {
        if (n == 0) return;
        std::memset(bytes.get(), fill, n);
        std::memcpy(before.data(), bytes.get(), n);
    }
    [[nodiscard]] std::span<std::byte> span() const { return {bytes.get(), size}; }
    /// True when nothing at or after `from` changed.
    [[nodiscard]] bool untouched_from(std::uint64_t from) const
    {
        if (from >= size) return true;
        return std::memcmp(bytes.get() + from, before.data() + from, size - from) == 0;
    }
    /// True when every byte at or after `from` is zero.
    [[nodiscard]] bool zero_from(std::uint64_t from) const
    {
        static constexpr std::array<std::byte, 65536> zeros{}; // larger than any buffer here
        if (from >= size) return true;
        return std::memcmp(bytes.get() + from, zeros.data(), size - from) == 0;
    }
    std::size_t size;
    std::unique_ptr<std::byte[]> bytes;
    std::vector<std::byte> before;
};

void check_status(const nvme::Status& s)
{
    using T = nvme::StatusCodeType;
    FUZZ_CHECK(s.sct == T::generic || s.sct == T::command_specific ||
               s.sct == T::media_data_integrity || s.sct == T::path || s.sct == T::vendor);
    FUZZ_CHECK(s.crd <= 3);
    const nvme::Status back = nvme::Status::from_field(s.to_field());
    FUZZ_CHECK(back.sct == s.sct && back.sc == s.sc && back.crd == s.crd && back.more == s.more &&
               back.dnr == s.dnr);
}

ControllerConfig fuzz_config(std::uint8_t options)
{
    ControllerConfig c;
    c.total_capacity_bytes = 64ull << 20;
    c.max_namespaces = 4;
    c.aerl = 3;
    NamespaceConfig ns1;
    ns1.nsid = 1;
    ns1.size_bytes = 1ull << 20;
    NamespaceConfig ns2;
    ns2.nsid = 2;
    ns2.size_bytes = 1ull << 20;
    ns2.lba_data_size = 4096;
    ns2.metadata_size = (options & 1u) != 0 ? 64 : 8;
    ns2.extended_metadata = (options & 2u) != 0;
    ns2.attached = (options & 4u) == 0;
    c.namespaces = {ns1, ns2};
    c.short_self_test_ms = 50;
    c.extended_self_test_minutes = 1;
    return c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    InputReader in(data, size);
    const auto options = in.take<std::uint8_t>();
    auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1000);
    auto made = EmulatedController::create(fuzz_config(options), [&now] { return now; });
    FUZZ_CHECK(made.has_value());
    EmulatedController& ctrl = **made;

    std::set<std::uint16_t> pending_aers;
    ctrl.set_async_sink([&](std::uint16_t cid, const Outcome& o) {
        if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr)
            std::fprintf(stderr, "async completion cid %u: status %04x dw0 %08x\n", cid, o.status.to_field(), o.dw0);
        FUZZ_CHECK(pending_aers.erase(cid) == 1);
        FUZZ_CHECK(!o.deferred);
        check_status(o.status);
    });

    std::uint16_t next_cid = 1;
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
    for (int command = 0; command < 32 && in.remaining() > 0; ++command) {
        const auto action = in.take<std::uint8_t>();
        const auto fill = in.take<std::uint8_t>();
        const auto data_bytes = in.take<std::uint16_t>();
        const auto metadata_bytes = in.take<std::uint16_t>();
        const auto ms = in.take<std::uint16_t>();
        auto sqe = in.take<nvme::SubmissionQueueEntry>();
        now += std::chrono::milliseconds(ms);

        if (action == 0xFF) {
            if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr) std::fprintf(stderr, "controller reset\n");
            ctrl.controller_reset();
            pending_aers.clear(); // a reset drops outstanding AERs without completing them
            continue;
        }
        const std::uint16_t qid = (action & 1u) != 0 ? 1 : 0;
        if (qid != 0) ctrl.note_io_queue_created(qid);
        sqe.cid = next_cid++;

        // Sizes up to 64 KiB + 64 KiB of metadata; the low bits of `action`
        // scale them down so that small transfers are common.
        const std::size_t data_size = data_bytes >> ((action >> 1) & 7u);
        const std::size_t metadata_size = (action & 0x10u) != 0 ? metadata_bytes >> 4 : 0;
        HostBuffer buffer(data_size, fill);
        if ((action & 0x20u) != 0) { // the input gives the first 64 bytes (a structure to send)
            const auto head = in.take_bytes(64);
            const std::size_t n = std::min(head.size(), data_size);
            if (n != 0) {
                std::memcpy(buffer.bytes.get(), head.data(), n);
                std::memcpy(buffer.before.data(), head.data(), n);
            }
        }
        HostBuffer metadata(metadata_size, static_cast<std::uint8_t>(fill ^ 0x5A));
        const auto direction = (data_size == 0 && metadata_size == 0) ? nvme::DataTransfer::none
                                                                      : nvme::data_transfer(sqe.opc);
        // An AER may complete through the sink inside its own execute()
        // (an event was pending), and is then deferred all the same.
        const bool aer = qid == 0 && sqe.opc == static_cast<std::uint8_t>(nvme::AdminOpcode::async_event_request);
        if (aer) FUZZ_CHECK(pending_aers.insert(sqe.cid).second);
        const Outcome o = ctrl.execute(CommandContext{qid, sqe, direction, buffer.span(), metadata.span()});

        check_status(o.status);
        if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr)
            std::fprintf(stderr, "q%u cid %u opc %02x nsid %u: status %04x%s\n", qid, sqe.cid, sqe.opc, sqe.nsid,
                         o.status.to_field(), o.deferred ? " (deferred)" : "");
        if (o.deferred)
            FUZZ_CHECK(aer && o.status.is_success());
        else if (aer)
            FUZZ_CHECK(pending_aers.erase(sqe.cid) == 1); // completed now, and not through the sink too
        if (direction == nvme::DataTransfer::host_to_controller) {
            FUZZ_CHECK(buffer.untouched_from(0) && metadata.untouched_from(0));
        }
        if (qid == 0 && sqe.opc == static_cast<std::uint8_t>(nvme::AdminOpcode::identify))
            FUZZ_CHECK(buffer.untouched_from(4096));
        if (qid == 0 && sqe.opc == static_cast<std::uint8_t>(nvme::AdminOpcode::get_log_page))
            FUZZ_CHECK(buffer.untouched_from(nvme::cmd::get_log_page::num_bytes(sqe)));

        const bool read = sqe.opc == static_cast<std::uint8_t>(nvme::NvmOpcode::read);
        const bool write = sqe.opc == static_cast<std::uint8_t>(nvme::NvmOpcode::write);
        if (qid != 0 && (read || write) && o.status.is_success()) {
            const auto it = ctrl.namespaces().find(sqe.nsid);
            FUZZ_CHECK(it != ctrl.namespaces().end() && it->second.attached);
            const auto& ns = it->second;
            const std::uint64_t blocks = nvme::cmd::rw::num_blocks(sqe);
            const std::uint64_t block = ns.lba_data_size() + (ns.extended_metadata ? ns.metadata_size() : 0u);
            FUZZ_CHECK(blocks * block <= data_size);
            if (!ns.extended_metadata && ns.metadata_size() != 0 && metadata_size != 0)
                FUZZ_CHECK(blocks * ns.metadata_size() <= metadata_size);
            FUZZ_CHECK(nvme::cmd::rw::slba(sqe) + blocks <= ns.nsze);
            // io_read zeroes what the blocks leave of a larger buffer.
            if (read) FUZZ_CHECK(buffer.zero_from(blocks * block));
        }

        const auto& health = ctrl.health();
        FUZZ_CHECK(health.bytes_read >= bytes_read && health.bytes_written >= bytes_written);
        bytes_read = health.bytes_read;
        bytes_written = health.bytes_written;
        std::uint64_t capacity = 0;
        for (const auto& [nsid, ns] : ctrl.namespaces()) {
            FUZZ_CHECK(nsid == ns.nsid && nsid >= 1 && nsid <= ctrl.config().max_namespaces);
            capacity += ns.capacity_bytes;
        }
        FUZZ_CHECK(capacity <= ctrl.config().total_capacity_bytes);
    }
    return 0;
}
