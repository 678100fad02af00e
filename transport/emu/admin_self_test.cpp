// Device Self-test (NVMe Base 2.0, 5.9; results in the Device Self-test log,
// 5.16.1.7). One test runs at a time (DSTO bit 0). A test takes wall-clock
// time on the controller's clock: config.short_self_test_ms for the short
// test, four times that for the extended one, and always passes. It is
// finished lazily by update_self_test(), which commands and the log call.
#include <algorithm>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

constexpr std::uint16_t nsid_byte = 4;
constexpr std::uint16_t cdw10_byte = 40;
constexpr std::size_t max_results = 20;  // Figure 212: twenty result entries

using Code = nvme::cmd::device_self_test::Code;

} // namespace

void EmulatedController::record_self_test_result(std::uint8_t code, nvme::SelfTestResultCode result,
                                                 std::uint32_t nsid)
{
    nvme::SelfTestResult r{};
    r.device_self_test_status = static_cast<std::uint8_t>(
        nvme::self_test_status::Code::make(code) |
        nvme::self_test_status::Result::make(static_cast<std::uint8_t>(result)));
    r.power_on_hours.set(power_on_hours());
    r.nsid = nsid;
    // The NSID is meaningful only when namespaces were part of the test.
    r.valid_diagnostic_info = nsid != 0 ? nvme::self_test_valid::nsid : std::uint8_t{0};
    self_test_results_.push_front(r);
    if (self_test_results_.size() > max_results) self_test_results_.pop_back();
}

void EmulatedController::update_self_test()
{
    if (!self_test_ || now() < self_test_->started + self_test_->duration) return;
    record_self_test_result(self_test_->code, nvme::SelfTestResultCode::completed_without_error,
                            self_test_->nsid);
    self_test_.reset();
}

void EmulatedController::abort_self_test(nvme::SelfTestResultCode result)
{
    update_self_test();  // a test whose time is up has completed, not aborted
    if (!self_test_) return;
    record_self_test_result(self_test_->code, result, self_test_->nsid);
    self_test_.reset();
}

std::pair<std::uint8_t, std::uint8_t> EmulatedController::self_test_progress() const
{
    if (!self_test_) return {0, 0};
    const auto elapsed = now() - self_test_->started;
    const auto total = std::chrono::duration_cast<std::chrono::steady_clock::duration>(self_test_->duration);
    std::int64_t percent = 0;
    if (total.count() > 0 && elapsed.count() > 0) percent = elapsed.count() * 100 / total.count();
    // 100 % is reported only as a result entry, never as progress.
    return {self_test_->code, static_cast<std::uint8_t>(std::clamp<std::int64_t>(percent, 0, 99))};
}

Outcome EmulatedController::admin_device_self_test(const CommandContext& c)
{
    const auto& sqe = c.sqe;
    update_self_test();
    const auto stc = static_cast<Code>(nvme::cmd::device_self_test::Stc::get(sqe));

    if (stc == Code::abort) {
        // Aborting when nothing runs is not an error (5.9).
        abort_self_test(nvme::SelfTestResultCode::aborted_by_self_test_command);
        return Outcome::success();
    }
    if (stc != Code::short_test && stc != Code::extended_test)
        return Outcome::field_error(nvme::Status(nvme::GenericStatus::invalid_field).with_dnr(), cdw10_byte);

    // NSID 0: the controller only; FFFFFFFFh: it and every active namespace;
    // otherwise an active namespace.
    if (sqe.nsid != 0 && sqe.nsid != nvme::nsid_all) {
        if (auto ns = io_namespace(sqe.nsid); !ns) return Outcome::field_error(ns.error(), nsid_byte);
    }
    if (self_test_)
        return Outcome::field_error(nvme::Status(nvme::CommandSpecificStatus::device_self_test_in_progress),
                                    cdw10_byte);

    const std::chrono::milliseconds short_duration{config_.short_self_test_ms};
    self_test_ = SelfTestRun{
        .code = static_cast<std::uint8_t>(stc),
        .nsid = sqe.nsid,
        .started = now(),
        .duration = stc == Code::short_test ? short_duration : 4 * short_duration,
    };
    return Outcome::success();
}

} // namespace nvmecuse::emu
