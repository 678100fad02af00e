// The background retry of --attach targets that were down at start
// (attach_retry.hpp).
#include "nvmecuse/service/attach_retry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace nvmecuse::service {

std::optional<unsigned> reconnect_attempts(std::chrono::seconds reconnect_delay,
                                           std::chrono::seconds ctrl_loss_tmo)
{
    if (ctrl_loss_tmo.count() < 0) return std::nullopt;
    if (ctrl_loss_tmo.count() == 0 || reconnect_delay.count() <= 0) return 0u;
    const auto delay = reconnect_delay.count();
    return static_cast<unsigned>((ctrl_loss_tmo.count() + delay - 1) / delay);
}

void AttachRetry::add(std::string name, Attempt attempt, std::chrono::seconds delay,
                      std::optional<unsigned> attempts)
{
    targets_.push_back(Target{std::move(name), std::move(attempt), delay, attempts,
                              std::chrono::steady_clock::now() + delay});
}

void AttachRetry::start()
{
    if (!targets_.empty()) thread_ = std::thread([this] { run(); });
}

void AttachRetry::stop()
{
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void AttachRetry::run()
{
    std::unique_lock lock(mutex_);
    while (!stopping_ && !targets_.empty()) {
        const auto next =
            std::min_element(targets_.begin(), targets_.end(),
                             [](const Target& a, const Target& b) { return a.next < b.next; });
        if (wake_.wait_until(lock, next->next, [this] { return stopping_; })) break;
        Target& target = *next;
        lock.unlock(); // stop() may come while the attempt connects
        const bool done = target.attempt();
        lock.lock();
        if (target.attempts_left) --*target.attempts_left;
        if (!done && target.attempts_left == 0u)
            spdlog::error("{}: giving up: still unreachable after the last reconnect attempt "
                          "(--ctrl-loss-tmo)",
                          target.name);
        if (done || target.attempts_left == 0u) {
            targets_.erase(next);
            continue;
        }
        target.next = std::chrono::steady_clock::now() + target.delay;
    }
}

} // namespace nvmecuse::service
