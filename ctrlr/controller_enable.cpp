// The controller's register-level state machine, written once for every
// transport (owner thread): enable (CC.EN, CSTS.RDY within CAP.TO),
// disable, shutdown (CC.SHN, CSTS.SHST), NVM subsystem reset, Keep Alive.
// Registers are reached directly (PCIe MMIO, the emulator) or through
// Fabrics Property Get/Set commands on the admin queue; waits are timers
// on the owner loop, never a sleep, so the loop keeps serving meanwhile.
// Follows Linux nvme_enable_ctrl()/nvme_disable_ctrl()/nvme_wait_ready()
// (drivers/nvme/host/core.c) and libvfn's nvme_enable().
#include <spdlog/spdlog.h>

#include <algorithm>

#include "nvmecuse/spec/fabrics.hpp"

#include "admin_commands.hpp"
#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
/// CSTS polling: the first poll at once, then 1 ms doubling to 32 ms.
constexpr auto first_poll_interval = std::chrono::milliseconds(1);
constexpr auto max_poll_interval = std::chrono::milliseconds(32);
/// Linux shutdown_timeout default (nvme_core.shutdown_timeout = 5 s),
/// raised to RTD3E where the controller asks for more, at most 60 s.
constexpr auto default_shutdown_timeout = std::chrono::seconds(5);
constexpr auto max_shutdown_timeout = std::chrono::seconds(60);
/// How long a disable before a reset may take on a controller that stopped
/// answering (Linux waits CAP.TO; a Property command can wait no longer).
constexpr auto min_ready_timeout = std::chrono::milliseconds(500);

std::error_code errc(std::errc e)
{
    return std::make_error_code(e);
}
} // namespace

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

void Controller::Impl::schedule(Clock::time_point at, std::move_only_function<void()> fn)
{
    timers_.emplace(at, std::move(fn));
}

bool Controller::Impl::run_due_timers(Clock::time_point now)
{
    bool ran = false;
    while (!timers_.empty() && timers_.begin()->first <= now) {
        auto fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        fn();
        ran = true;
    }
    return ran;
}

Clock::time_point Controller::Impl::next_timer() const noexcept
{
    return timers_.empty() ? Clock::time_point::max() : timers_.begin()->first;
}

// ---------------------------------------------------------------------------
// Register access
// ---------------------------------------------------------------------------

void Controller::Impl::read_register(std::uint32_t offset, Clock::time_point deadline,
                                     RegisterRead done)
{
    if (transport_->info().registers == transport::RegisterAccess::direct) {
        done(transport_->read_register(offset));
        return;
    }
    Command c;
    c.sqe = nvme::fabrics::property_get_sqe(offset);
    c.timeout = std::max(std::chrono::milliseconds(1),
                         std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()));
    issue_internal(QueueKind::admin, std::move(c),
                   [this, offset, done = std::move(done)](Result&& r) mutable {
                       if (r.error) return done(std::unexpected(r.error));
                       if (!r.status.is_success()) {
                           log_->error("{}: Property Get {:#x}: {}", options_.name, offset,
                                       nvme::to_string(r.status));
                           return done(std::unexpected(errc(std::errc::io_error)));
                       }
                       const std::uint64_t v = std::uint64_t{r.dw0} | std::uint64_t{r.dw1} << 32;
                       done(nvme::reg_offset::is_64bit(offset) ? v : v & 0xffffffffu);
                   });
}

void Controller::Impl::write_register(std::uint32_t offset, std::uint64_t value,
                                      Clock::time_point deadline, DoneFn done)
{
    if (transport_->info().registers == transport::RegisterAccess::direct) {
        transport_->write_register(offset, value);
        done({});
        return;
    }
    Command c;
    c.sqe = nvme::fabrics::property_set_sqe(offset, value);
    c.timeout = std::max(std::chrono::milliseconds(1),
                         std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()));
    issue_internal(QueueKind::admin, std::move(c),
                   [this, offset, done = std::move(done)](Result&& r) mutable {
                       if (r.error) return done(r.error);
                       if (!r.status.is_success()) {
                           log_->error("{}: Property Set {:#x}: {}", options_.name, offset,
                                       nvme::to_string(r.status));
                           return done(errc(std::errc::io_error));
                       }
                       done({});
                   });
}

void Controller::Impl::wait_csts(CstsPredicate until, Clock::time_point deadline,
                                 std::chrono::milliseconds interval, const char* what, DoneFn done)
{
    const std::uint64_t epoch = epoch_;
    read_register(
        nvme::reg_offset::csts, deadline,
        [this, until, deadline, interval, what, epoch,
         done = std::move(done)](std::expected<std::uint64_t, std::error_code> v) mutable {
            if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
            if (!v) return done(v.error());
            const auto csts = static_cast<std::uint32_t>(*v);
            if (*v == ~std::uint64_t{0} || csts == 0xffffffffu) {
                log_->error("{}: CSTS reads all ones: the device is gone", options_.name);
                return done(errc(std::errc::no_such_device));
            }
            if (until(csts)) return done({});
            if (nvme::csts::Cfs::get(csts)) {
                log_->error("{}: controller fatal status while waiting for {}", options_.name,
                            what);
                return done(errc(std::errc::io_error));
            }
            const auto now = Clock::now();
            if (now >= deadline) {
                log_->error("{}: timed out waiting for {} (CSTS {:#x})", options_.name, what, csts);
                return done(errc(std::errc::timed_out));
            }
            const auto next = std::min(interval * 2, std::chrono::milliseconds(max_poll_interval));
            schedule(std::min(now + interval, deadline),
                     [this, until, deadline, next, what, done = std::move(done)]() mutable {
                         wait_csts(until, deadline, next, what, std::move(done));
                     });
        });
}

// ---------------------------------------------------------------------------
// Enable, disable, shutdown
// ---------------------------------------------------------------------------

Clock::time_point Controller::Impl::ready_deadline() const noexcept
{
    // CAP.TO: worst-case time to CSTS.RDY, 500 ms units (NVMe Base 2.0, 3.1.4.1).
    const auto to = std::chrono::milliseconds(nvme::cap::timeout_ms(cap_));
    return Clock::now() + std::max<std::chrono::milliseconds>(to, min_ready_timeout);
}

std::expected<std::uint32_t, std::error_code> Controller::Impl::enabled_cc() const
{
    using namespace nvme::cc;
    // 4 KiB memory pages: the host's page size, what the kernel sets too.
    if (nvme::cap::Mpsmin::get(cap_) > 0) {
        log_->error("{}: the controller's minimum page size {} exceeds the host's 4096",
                    options_.name, nvme::cap::min_page_size(cap_));
        return std::unexpected(errc(std::errc::not_supported));
    }
    // Like Linux nvme_enable_ctrl(): every I/O command set when CAP.CSS
    // allows it, else NVM, else admin only; round robin; 64/16-byte entries.
    const auto css = nvme::cap::Css::get(cap_);
    auto selected = CommandSetSelected::admin_only;
    if ((css & nvme::cap::css_io_command_sets) != 0)
        selected = CommandSetSelected::all_supported_io;
    else if ((css & nvme::cap::css_nvm) != 0)
        selected = CommandSetSelected::nvm;
    std::uint32_t v = 0;
    v = Css::set(v, static_cast<std::uint32_t>(selected));
    v = Mps::set(v, 0);
    v = Iosqes::set(v, 6);
    v = Iocqes::set(v, 4);
    return En::set(v, true);
}

void Controller::Impl::enable_controller(DoneFn done)
{
    const std::uint64_t epoch = epoch_;
    const auto soon = Clock::now() + min_ready_timeout + options_.admin_timeout / 10;
    read_register(nvme::reg_offset::cap, soon,
                  [this, epoch, done = std::move(done)](
                      std::expected<std::uint64_t, std::error_code> cap) mutable {
                      if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
                      if (!cap) return done(cap.error());
                      if (*cap == ~std::uint64_t{0}) return done(errc(std::errc::no_such_device));
                      cap_ = *cap;
                      read_register(nvme::reg_offset::vs, ready_deadline(),
                                    [this, epoch, done = std::move(done)](auto vs) mutable {
                                        if (epoch != epoch_)
                                            return done(errc(std::errc::operation_canceled));
                                        if (!vs) return done(vs.error());
                                        vs_ = static_cast<std::uint32_t>(*vs);
                                        log_->debug("{}: CAP {:#x} VS {:#x}", options_.name, cap_,
                                                    vs_);
                                        disable_then_enable(std::move(done));
                                    });
                  });
}

void Controller::Impl::disable_then_enable(DoneFn done)
{
    // A controller left enabled (a previous owner, an unclean exit) is
    // disabled first: CC.EN=0, then CSTS.RDY=0 (NVMe Base 2.0, 3.5.1).
    disable_controller([this, epoch = epoch_, done = std::move(done)](std::error_code ec) mutable {
        if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
        if (ec) return done(ec);
        program_admin_queue(std::move(done));
    });
}

void Controller::Impl::program_admin_queue(DoneFn done)
{
    const auto aq = transport_->admin_queue_registers();
    auto set_cc = [this, epoch = epoch_](DoneFn then) mutable {
        if (epoch != epoch_) return then(errc(std::errc::operation_canceled));
        auto cc = enabled_cc();
        if (!cc) return then(cc.error());
        write_register(nvme::reg_offset::cc, *cc, ready_deadline(),
                       [this, epoch, then = std::move(then)](std::error_code ec) mutable {
                           if (epoch != epoch_) return then(errc(std::errc::operation_canceled));
                           if (ec) return then(ec);
                           wait_csts([](std::uint32_t s) { return nvme::csts::Rdy::get(s); },
                                     ready_deadline(), first_poll_interval, "CSTS.RDY = 1",
                                     std::move(then));
                       });
    };
    if (!aq) return set_cc(std::move(done));
    // AQA, ASQ, ACQ before CC.EN (NVMe Base 2.0, 3.5.1 step 3); direct
    // register access only, so these complete at once.
    const auto deadline = ready_deadline();
    write_register(nvme::reg_offset::aqa, aq->aqa, deadline, [](std::error_code) {});
    write_register(nvme::reg_offset::asq, aq->asq, deadline, [](std::error_code) {});
    write_register(
        nvme::reg_offset::acq, aq->acq, deadline,
        [set_cc = std::move(set_cc), done = std::move(done)](std::error_code ec) mutable {
            if (ec) return done(ec);
            set_cc(std::move(done));
        });
}

void Controller::Impl::disable_controller(DoneFn done)
{
    const std::uint64_t epoch = epoch_;
    read_register(
        nvme::reg_offset::cc, ready_deadline(),
        [this, epoch,
         done = std::move(done)](std::expected<std::uint64_t, std::error_code> cc) mutable {
            if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
            if (!cc) return done(cc.error());
            const auto v = static_cast<std::uint32_t>(*cc);
            if (!nvme::cc::En::get(v)) {
                // Not enabled; a controller still reporting ready settles first.
                return wait_csts([](std::uint32_t s) { return !nvme::csts::Rdy::get(s); },
                                 ready_deadline(), first_poll_interval, "CSTS.RDY = 0",
                                 std::move(done));
            }
            write_register(nvme::reg_offset::cc, nvme::cc::En::set(v, false), ready_deadline(),
                           [this, epoch, done = std::move(done)](std::error_code ec) mutable {
                               if (epoch != epoch_)
                                   return done(errc(std::errc::operation_canceled));
                               if (ec) return done(ec);
                               wait_csts([](std::uint32_t s) { return !nvme::csts::Rdy::get(s); },
                                         ready_deadline(), first_poll_interval, "CSTS.RDY = 0",
                                         std::move(done));
                           });
        });
}

void Controller::Impl::shutdown_controller(DoneFn done)
{
    // Normal shutdown notification, then CSTS.SHST = complete (NVMe Base
    // 2.0, 3.6.1), within RTD3E or Linux's 5 s default, at most 60 s.
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(default_shutdown_timeout);
    if (id_ctrl_.rtd3e != 0)
        timeout = std::clamp(
            std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::microseconds(id_ctrl_.rtd3e)),
            timeout, std::chrono::duration_cast<std::chrono::milliseconds>(max_shutdown_timeout));
    const auto deadline = Clock::now() + timeout;
    const std::uint64_t epoch = epoch_;
    read_register(
        nvme::reg_offset::cc, deadline,
        [this, epoch, deadline,
         done = std::move(done)](std::expected<std::uint64_t, std::error_code> cc) mutable {
            if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
            if (!cc) return done(cc.error());
            using nvme::cc::ShutdownNotification;
            const auto v =
                nvme::cc::Shn::set(static_cast<std::uint32_t>(*cc),
                                   static_cast<std::uint32_t>(ShutdownNotification::normal));
            write_register(
                nvme::reg_offset::cc, v, deadline,
                [this, epoch, deadline, done = std::move(done)](std::error_code ec) mutable {
                    if (epoch != epoch_) return done(errc(std::errc::operation_canceled));
                    if (ec) return done(ec);
                    wait_csts(
                        [](std::uint32_t s) {
                            return nvme::csts::Shst::get(s) ==
                                   static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::complete);
                        },
                        deadline, first_poll_interval, "CSTS.SHST = complete", std::move(done));
                });
        });
}

void Controller::Impl::write_nssr(DoneFn done)
{
    // NVM Subsystem Reset (NVMe Base 2.0, 3.7.1): "NVMe" written to NSSR,
    // only where CAP.NSSRS says the controller supports it, and, as Linux
    // has it (ctrl->subsystem), from NVMe 1.1 on.
    if (!nvme::cap::Nssrs::get(cap_) || vs_ < nvme::make_version(1, 1, 0))
        return done(errc(std::errc::operation_not_supported));
    write_register(nvme::reg_offset::nssr, nvme::nssr_reset_value, ready_deadline(),
                   std::move(done));
}

// ---------------------------------------------------------------------------
// Keep Alive (NVMe Base 2.0, 3.9): every KATO/2, like Linux nvme_keep_alive_work()
// ---------------------------------------------------------------------------

void Controller::Impl::start_keep_alive(std::uint64_t epoch)
{
    const auto kato = transport_->info().keep_alive_timeout;
    if (kato.count() <= 0) return;
    keep_alive_outstanding_ = false;
    schedule(Clock::now() + kato / 2, [this, epoch] { keep_alive_tick(epoch); });
}

void Controller::Impl::keep_alive_tick(std::uint64_t epoch)
{
    if (epoch != epoch_ || state_ != State::live) return;
    const auto kato = transport_->info().keep_alive_timeout;
    const auto now = Clock::now();
    if (keep_alive_outstanding_) {
        if (now - keep_alive_sent_ >= kato) {
            log_->error("{}: Keep Alive unanswered for {} ms; connection lost", options_.name,
                        kato.count());
            transport_->fail_connection();
            loss_reported_ = true;
            return;
        }
    } else {
        keep_alive_outstanding_ = true;
        keep_alive_sent_ = now;
        Command c;
        c.sqe = admin::sqe_for(nvme::AdminOpcode::keep_alive);
        issue_internal(
            QueueKind::admin, std::move(c),
            [this, epoch](Result&& r) {
                if (epoch != epoch_) return;
                keep_alive_outstanding_ = false;
                if (!r.ok())
                    log_->warn("{}: Keep Alive: {}", options_.name,
                               r.error ? r.error.message() : nvme::to_string(r.status));
            },
            /*untimed=*/true);
    }
    schedule(now + kato / 2, [this, epoch] { keep_alive_tick(epoch); });
}

} // namespace nvmecuse::ctrlr
