// Fuzz target: ctrlr::Controller's namespace scan (ctrlr/namespace_scan.cpp,
// ctrlr/limits.cpp) against a hostile controller. The fake transport of the
// unit tests (tests/unit/fake_transport.hpp) answers every admin command;
// each Identify it answers (Identify Controller, Active Namespace List,
// Identify Namespace) is then rewritten from the input: its status, NN and
// MDTS, list pages that increase, repeat, stop or hold any nsids, and
// namespaces of any size, format and LBA size, plus arbitrary bytes laid
// over any of them. Controller::start() scans once; up to four rescans
// follow while input is left.
//
// Invariants (FUZZ_CHECK):
// - a scan issues a bounded number of Identify commands: Identify
//   Controller, at most max_scanned_namespaces / 1024 + 1 list pages and
//   max_scanned_namespaces Identify Namespace (the hook aborts past that,
//   so a scan that would loop is a crash, not a timeout);
// - start() succeeds (a hostile Identify never fails the bring-up) and
//   every scan finishes;
// - the published namespaces are at most max_scanned_namespaces, each
//   under its own valid nsid (1..FFFFFFFEh), one the scan asked Identify
//   Namespace for and whose answer it keeps byte for byte, with NSZE != 0;
// - a namespace has a capacity exactly when its LBA data size is within
//   [min_lba_data_size, max_lba_data_size] and NSZE x size fits 64 bits, and
//   size_bytes() is then that product, else 0;
// - the transfer limit is 2^n bytes within max_transfer_limit, or 0.
#include <spdlog/spdlog.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <span>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/limits.hpp"

#include "tests/fuzz/fuzz_check.hpp"
#include "tests/unit/fake_transport.hpp"

namespace {

using namespace nvmecuse;
using nvmecuse::fuzz::InputReader;

constexpr std::uint32_t list_entries = nvme::identify_data_size / sizeof(std::uint32_t);
/// Identify commands one scan may issue at most (see the invariants above).
constexpr std::size_t max_identify_per_scan =
    1 + ctrlr::max_scanned_namespaces / list_entries + 1 + ctrlr::max_scanned_namespaces +
    8; // other Identify the bring-up may send (its Identify Controller is its scan's)

constexpr int max_rescans = 4;

/// Answers Identify from the input, on the controller's owner thread; the
/// fuzz thread only reads it between start() and rescan(), which it waits for.
class HostileIdentify {
public:
    explicit HostileIdentify(InputReader& in) : in_(in) {}

    nvme::Status answer(const nvme::SubmissionQueueEntry& s, std::span<std::byte> data,
                        nvme::Status default_status)
    {
        FUZZ_CHECK(++identifies_ <= max_identify_per_scan);
        const auto cns = static_cast<nvme::Cns>(nvme::cmd::identify::Cns::get(s));
        const auto how = in_.take<std::uint8_t>();
        nvme::Status status = default_status;
        if (how >= 0xf0) status = nvme::Status::from_field(in_.take<std::uint16_t>());
        if (cns == nvme::Cns::controller) {
            controller(data, how);
            controller_failed_ = !status.is_success();
        } else if (cns == nvme::Cns::active_namespace_list) {
            list(data, s.nsid, how);
        } else if (cns == nvme::Cns::namespace_) {
            namespace_(data, how);
        }
        if (how & 0x80u) overlay(data);
        if (cns == nvme::Cns::namespace_) {
            nvme::IdentifyNamespace id;
            std::memcpy(&id, data.data(), sizeof id);
            if (status.is_success()) {
                answered_[s.nsid] = id;
            } else {
                answered_.erase(s.nsid);
            }
        }
        return status;
    }

    /// The last Identify Controller failed (the bring-up then fails, as Linux's).
    [[nodiscard]] bool controller_failed() const { return controller_failed_; }
    /// Starts counting a new scan's commands.
    void next_scan() { identifies_ = 0; }
    [[nodiscard]] const std::map<std::uint32_t, nvme::IdentifyNamespace>& answered() const
    {
        return answered_;
    }

private:
    void controller(std::span<std::byte> data, std::uint8_t how)
    {
        auto* id = reinterpret_cast<nvme::IdentifyController*>(data.data());
        if (how & 1u) id->nn = in_.take<std::uint32_t>();
        if (how & 2u) id->mdts = in_.take<std::uint8_t>();
    }

    void list(std::span<std::byte> data, std::uint32_t start, std::uint8_t how)
    {
        if ((how & 7u) == 0) return; // the fake's own page
        auto* list = reinterpret_cast<std::uint32_t*>(data.data());
        const std::uint32_t count =
            std::min<std::uint32_t>(in_.take<std::uint16_t>(), list_entries);
        std::uint32_t nsid = start;
        for (std::uint32_t i = 0; i < list_entries; ++i) {
            if (i >= count) {
                list[i] = 0;
                continue;
            }
            switch (how & 7u) {
            case 1: // increasing by one
                nsid += 1;
                break;
            case 2: // increasing with gaps
                nsid += 1 + in_.take<std::uint8_t>();
                break;
            case 3: // the start, repeated
                nsid = start;
                break;
            case 4: // the same page again
                nsid = static_cast<std::uint32_t>(i + 1);
                break;
            case 5: // up to the top
                nsid = 0xffffffffu - (count - i);
                break;
            default: // any
                nsid = in_.take<std::uint32_t>();
                break;
            }
            list[i] = nsid;
        }
    }

    void namespace_(std::span<std::byte> data, std::uint8_t how)
    {
        auto* id = reinterpret_cast<nvme::IdentifyNamespace*>(data.data());
        if (how & 1u) id->nsze = id->ncap = in_.take<std::uint64_t>();
        if (how & 2u) id->flbas = in_.take<std::uint8_t>();
        if (how & 4u) {
            auto& fmt = id->lbaf[nvme::flbas::index(id->flbas) % id->lbaf.size()];
            fmt.lbads = in_.take<std::uint8_t>();
            fmt.ms = in_.take<std::uint16_t>();
        }
        if (how & 8u) id->nsze = 0; // inactive
    }

    void overlay(std::span<std::byte> data)
    {
        const auto at = in_.take<std::uint16_t>() % data.size();
        const auto bytes =
            in_.take_bytes(std::min<std::size_t>(in_.take<std::uint8_t>(), data.size() - at));
        std::memcpy(data.data() + at, bytes.data(), bytes.size());
    }

    InputReader& in_;
    std::size_t identifies_ = 0;
    bool controller_failed_ = false;
    std::map<std::uint32_t, nvme::IdentifyNamespace> answered_;
};

void check_published(const ctrlr::ControllerInfo& info, const HostileIdentify& device)
{
    FUZZ_CHECK(info.namespaces.size() <= ctrlr::max_scanned_namespaces);
    for (const auto& [nsid, ns] : info.namespaces) {
        FUZZ_CHECK(ns.nsid == nsid && nsid != 0 && nsid != nvme::nsid_all);
        auto answer = device.answered().find(nsid);
        FUZZ_CHECK(answer != device.answered().end());
        FUZZ_CHECK(std::memcmp(&answer->second, &ns.id, sizeof ns.id) == 0);
        FUZZ_CHECK(ns.id.nsze != 0);
        const std::uint32_t size = ns.lba_data_size;
        std::uint64_t product = 0;
        const bool usable = size >= ctrlr::min_lba_data_size && size <= ctrlr::max_lba_data_size &&
                            !__builtin_mul_overflow(ns.id.nsze, size, &product);
        FUZZ_CHECK(usable == ns.unusable_reason.empty());
        FUZZ_CHECK(ns.size_bytes() == (usable ? product : 0));
        FUZZ_CHECK(size == 0 || std::has_single_bit(size));
    }
    FUZZ_CHECK(info.max_transfer == 0 || (std::has_single_bit(info.max_transfer) &&
                                          info.max_transfer <= ctrlr::max_transfer_limit));
}

std::unique_ptr<ctrlr::Controller> start(std::shared_ptr<testing::FakeState> fake,
                                         const HostileIdentify& device)
{
    ctrlr::Controller::Options o;
    o.name = "fuzz";
    o.io_queues = 1;
    o.io_queue_depth = 4;
    o.max_outstanding_aers = 1;
    auto c = ctrlr::Controller::start(std::make_unique<testing::FakeTransport>(std::move(fake)), o);
    // Only a failed Identify Controller fails the bring-up, never its data.
    FUZZ_CHECK(c.has_value() || device.controller_failed());
    return c ? std::move(*c) : nullptr;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const bool quiet = [] {
        spdlog::set_level(spdlog::level::off); // also for loggers made later
        return true;
    }();
    (void)quiet;
    InputReader in(data, size);
    HostileIdentify device(in);
    auto fake = std::make_shared<testing::FakeState>();
    fake->namespaces = {{1, 1000}, {2, 8}};
    fake->completion_fds = true; // the owner thread wakes on completions, never waits a tick
    fake->identify_hook = [&device](const auto& s, std::span<std::byte> d, nvme::Status st) {
        return device.answer(s, d, st);
    };
    auto ctrl = start(fake, device);
    if (!ctrl) return 0;
    check_published(*ctrl->info(), device);

    // Rescans while input is left (one start serves several scans: the
    // bring-up costs more than a scan).
    for (int i = 0; i < max_rescans && in.remaining() > 0; ++i) {
        device.next_scan();
        std::promise<std::error_code> rescanned;
        ctrl->rescan([&rescanned](std::error_code ec) { rescanned.set_value(ec); });
        // A failed Identify Controller fails the rescan and keeps what was published.
        const std::error_code ec = rescanned.get_future().get();
        FUZZ_CHECK(!ec || device.controller_failed());
        check_published(*ctrl->info(), device);
    }
    ctrl.reset();
    return 0;
}
