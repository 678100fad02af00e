// --attach targets that could not be reached at start: retried in the
// background every reconnect-delay until ctrl-loss-tmo, the way the
// kernel's host retries a lost connection, while the daemon serves the rest.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nvmecuse::service {

/// How many attempts follow a failed first one: ctrl_loss_tmo /
/// reconnect_delay rounded up (the kernel's max_reconnects,
/// drivers/nvme/host/fabrics.c); nullopt (no limit) for a negative
/// ctrl_loss_tmo; 0 when ctrl_loss_tmo is 0 or reconnect_delay is not
/// positive. Pure.
[[nodiscard]] std::optional<unsigned> reconnect_attempts(std::chrono::seconds reconnect_delay,
                                                         std::chrono::seconds ctrl_loss_tmo);

/// One thread that retries targets until each is up or out of attempts.
class AttachRetry {
public:
    /// Tries once more; true when the target is up (or failed for a reason
    /// retrying cannot fix), false to try again. Called on the retry thread.
    using Attempt = std::function<bool()>;

    AttachRetry() = default;
    AttachRetry(const AttachRetry&) = delete;
    AttachRetry& operator=(const AttachRetry&) = delete;
    ~AttachRetry() { stop(); }

    /// Adds a target to retry every `delay`, at most `attempts` times
    /// (nullopt: until stop()). Before start() only; main thread.
    void add(std::string name, Attempt attempt, std::chrono::seconds delay,
             std::optional<unsigned> attempts);

    /// Starts the retry thread when anything was added. Main thread.
    void start();

    /// Stops and joins the retry thread; an attempt in progress finishes
    /// first. Idempotent. Main thread.
    void stop();

private:
    struct Target {
        std::string name;
        Attempt attempt;
        std::chrono::seconds delay;
        std::optional<unsigned> attempts_left;
        std::chrono::steady_clock::time_point next;
    };

    void run();

    std::vector<Target> targets_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace nvmecuse::service
