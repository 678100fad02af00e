// One CUSE session: the channel it talks over (an fd of /dev/cuse, or a
// socketpair end in tests), its reader threads and the requests that are
// answered later (from a controller completion). libfuse's fuse_session
// brings the node up (CUSE_INIT) and answers open, release, read and write;
// FUSE_IOCTL and FUSE_INTERRUPT, the steady-state traffic, are decoded and
// answered here (cuse/fuse_messages), with no libfuse request object.
// Private to cuse/; the Device builds on it.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse3/cuse_lowlevel.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nvmecuse/cuse/decode.hpp"
#include "nvmecuse/cuse/latency_sampler.hpp"

namespace nvmecuse::cuse {

/// One FUSE_IOCTL request as it arrived: the kernel's request id, which its
/// answer names, and the calling task (FUSE's in-header).
struct Request {
    std::uint64_t unique = 0;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

/// What a session asks of the node it serves. Called on reader threads only.
class SessionHandler {
public:
    virtual ~SessionHandler() = default;
    /// One FUSE_IOCTL request (the first or a retry) on a file handle
    /// opened with `open_flags` (the open(2) flags FUSE_OPEN carried). Must
    /// answer `req` exactly once, now or later (Session::track()).
    virtual void on_ioctl(const Request& req, unsigned int cmd, std::uint64_t arg, std::uint32_t flags,
                          std::span<const std::byte> in, std::size_t out_size,
                          std::uint32_t open_flags) = 0;
    /// After the CUSE_INIT reply went out (the kernel has created the node).
    virtual void on_init_done() {}
    /// FUSE_OPEN: the errno the open(2) fails with, 0 to let it open.
    virtual int on_open() { return 0; }
};

/// Counters a test (or `nvmecusectl`) can read. Any thread.
struct SessionCounters {
    std::atomic<std::uint64_t> fuse_requests{0};   ///< open/release/read/write/ioctl requests
    std::atomic<std::uint64_t> ioctl_requests{0};  ///< FUSE_IOCTL requests, first ones and retries
    std::atomic<std::uint64_t> ioctls_answered{0}; ///< final answers (not retries)
    std::atomic<std::uint64_t> fast_path{0};       ///< ioctls carried out over the fast path
    std::atomic<std::uint64_t> retries{0};         ///< FUSE_IOCTL_RETRY replies sent
    std::atomic<std::uint64_t> interrupts{0};      ///< interrupts that hit an in-flight request
    std::atomic<std::uint64_t> commands{0}; ///< NVMe commands posted (split ioctls post several)
    std::atomic<std::uint64_t> errors{0};        ///< answers with an errno or an NVMe error status
    std::atomic<std::uint64_t> bytes_read{0};    ///< data moved to callers by completed commands
    std::atomic<std::uint64_t> bytes_written{0}; ///< data moved from callers by completed commands
};

class Session {
public:
    struct Options {
        std::string devname;         ///< DEVNAME, relative to /dev
        unsigned reader_threads = 1; ///< at least 1
        /// stop() lets commands in flight finish for this long before it
        /// answers the rest with its errno: a namespace detached through
        /// its own node still gets its success, as the kernel's does.
        std::chrono::milliseconds drain_grace{1000};
        /// CUSE_UNRESTRICTED_IOCTL is not asked for: the kernel copies each
        /// ioctl's argument as its number encodes it (_IOC_DIR, _IOC_SIZE)
        /// in with the request and the reply's out bytes back, and a
        /// FUSE_IOCTL_RETRY reply fails the ioctl with EIO.
        bool restricted_ioctls = false;
    };

    /// Creates the CUSE session on `fd` (ownership passes, also on
    /// failure; made non-blocking). `handler` must outlive stop(). Any thread.
    [[nodiscard]] static std::expected<std::shared_ptr<Session>, std::error_code>
    create(Options options, int fd, SessionHandler& handler);
    /// Starts the reader threads. Once, after create(); or instead:
    void run();
    /// Serves the session on threads of the caller's (serving threads, or
    /// the controller's owner thread): no reader threads; call
    /// serve_ready() whenever channel_fd() is readable, from one thread or
    /// several at once, and stop calling it before stop(). Once, after
    /// create().
    void run_external();
    /// The channel (/dev/cuse) fd, for an external server to poll.
    [[nodiscard]] int channel_fd() const noexcept { return fd_; }
    /// External server: processes up to `budget` waiting requests without
    /// blocking; returns how many it processed.
    std::size_t serve_ready(std::size_t budget = 32);

    /// Destroys the fuse_session; stop() must have been called. Runs on
    /// whichever thread drops the last reference (completion handlers hold one).
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Ends the session: reader threads are woken and joined, every request
    /// still tracked is answered with `reply_errno`, the channel is closed
    /// (the kernel removes the node). Idempotent; not from a reader thread.
    void stop(int reply_errno);

    /// Serving thread: request `unique` will be answered later. An interrupt
    /// of it (FUSE_INTERRUPT) is only counted: the answer is the command's
    /// outcome either way, as the kernel's NVMe ioctls wait for the
    /// command (see device.cpp, finish()).
    void track(std::uint64_t unique);
    /// The right to answer one tracked request, held until the answer is
    /// written: stop() does not close the channel under a claim.
    class Claim {
    public:
        Claim() = default;
        explicit Claim(Session* session) noexcept : session_(session) {}
        Claim(Claim&& other) noexcept : session_(std::exchange(other.session_, nullptr)) {}
        Claim& operator=(Claim&&) = delete;
        ~Claim();
        explicit operator bool() const noexcept { return session_ != nullptr; }

    private:
        Session* session_ = nullptr;
    };
    /// Any thread: takes `req` out of the tracked set; empty when someone
    /// else (stop()) already answered it. Only the claimer may reply, and
    /// must reply before the Claim goes away.
    [[nodiscard]] Claim claim(std::uint64_t unique);
    /// Requests tracked and not yet claimed.
    [[nodiscard]] std::size_t in_flight() const;

    /// Answers to FUSE_IOCTL request `unique`, written to the channel at
    /// once (any thread; a request is answered once). An error, as
    /// fuse_reply_err(): `errno_value` in [1, 999], anything else ERANGE.
    void reply_error(std::uint64_t unique, int errno_value);
    /// The ioctl's return value and the bytes for its out iovecs.
    void reply_ioctl(std::uint64_t unique, int result, std::span<const std::byte> out = {});
    /// FUSE_IOCTL_RETRY: the kernel sends the ioctl again with these
    /// buffers of the caller's copied in, and copies out what the answer
    /// brings (at most FUSE_IOCTL_MAX_IOV each, else ENOMEM).
    void reply_retry(std::uint64_t unique, std::span<const UserRange> in,
                     std::span<const UserRange> out);

    [[nodiscard]] SessionCounters& counters() noexcept { return counters_; }
    /// Sampled latency of the ioctls answered from a controller completion.
    [[nodiscard]] LatencySampler& latency() noexcept { return latency_; }
    [[nodiscard]] const std::string& devname() const noexcept { return options_.devname; }

private:
    Session(Options options, int fd, int wake_fd, SessionHandler& handler);
    void reader_loop();
    /// One message read from the channel: FUSE_IOCTL and FUSE_INTERRUPT
    /// once initialised are served here, the rest by libfuse.
    void process(fuse_buf& buf, std::size_t size);
    void on_interrupt(std::uint64_t unique);
    void write_reply(const iovec* iov, int count);
    static ssize_t read_message(int fd, void* buf, std::size_t len, void* userdata);
    static ssize_t io_writev(int fd, struct iovec* iov, int count, void* userdata);
    static void op_init_done(void* userdata);
    static void op_open(fuse_req_t req, struct fuse_file_info* fi);
    static void op_release(fuse_req_t req, struct fuse_file_info* fi);
    static void op_read(fuse_req_t req, std::size_t size, off_t off, struct fuse_file_info* fi);
    static void op_write(fuse_req_t req, const char* buf, std::size_t size, off_t off,
                         struct fuse_file_info* fi);

    Options options_;
    SessionHandler& handler_;
    fuse_session* se_ = nullptr;
    /// The channel. Closed by stop() under the exclusive lock; replies
    /// write under the shared lock, so none goes to a reused fd number.
    mutable std::shared_mutex fd_mutex_;
    int fd_ = -1;
    bool external_ = false;
    /// eventfd that wakes the readers; handed to libfuse as "its" fd
    /// (libfuse closes it in fuse_session_destroy, after the readers are gone).
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::once_flag stop_once_;
    std::vector<std::thread> readers_;

    mutable std::mutex pending_mutex_;
    std::condition_variable drained_; ///< pending_ became empty, no claim left
    std::size_t claims_ = 0;          ///< Claims alive (guarded by pending_mutex_)
    /// Requests tracked and not claimed. Its nodes come from a pool that
    /// keeps what it was given back: steady-state tracking allocates nothing.
    std::pmr::unsynchronized_pool_resource pending_pool_;
    std::pmr::unordered_set<std::uint64_t> pending_{&pending_pool_};
    /// CUSE_INIT arrived: FUSE_IOCTL may come (process()).
    std::atomic<bool> initialized_{false};
    SessionCounters counters_;
    LatencySampler latency_;
};

} // namespace nvmecuse::cuse
