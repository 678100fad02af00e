// The kernel's side of a CUSE connection, for tests: speaks the FUSE wire
// protocol (<linux/fuse.h>) on one end of a SOCK_SEQPACKET socketpair whose
// other end a cuse::Device serves. It implements what fs/fuse/ioctl.c
// fuse_do_ioctl does for an unrestricted ioctl: send FUSE_IOCTL, follow
// FUSE_IOCTL_RETRY by gathering the named in iovecs from this process's
// memory, and scatter the final reply into the out iovecs - so a test sees
// exactly what a process calling ioctl() would. When the daemon's CUSE_INIT
// reply leaves out CUSE_UNRESTRICTED_IOCTL, ioctls are restricted, as there:
// the argument is copied as the number encodes it, and RETRY is EIO. Requests carry the calling
// thread's id (the fast path then works on the test's own buffers) unless a
// test passes another pid (one that cannot exist forces the retry path).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nvmecuse::testing {

class FakeCuseKernel {
public:
    /// Takes ownership of `fd` (the kernel end) and starts a receiver thread.
    explicit FakeCuseKernel(int fd);
    /// Closes the connection (the daemon sees ENODEV) and joins.
    ~FakeCuseKernel();
    FakeCuseKernel(const FakeCuseKernel&) = delete;
    FakeCuseKernel& operator=(const FakeCuseKernel&) = delete;

    /// How long any wait for an answer may take before the call fails.
    static constexpr int reply_timeout_ms = 3000;

    struct InitReply {
        std::uint32_t major = 0;
        std::uint32_t minor = 0;
        std::uint32_t flags = 0; ///< CUSE_UNRESTRICTED_IOCTL expected
        std::uint32_t max_read = 0;
        std::string devname; ///< the DEVNAME= entry of dev_info
    };
    /// CUSE_INIT handshake. Error: the errno of the reply, or ETIMEDOUT.
    [[nodiscard]] std::expected<InitReply, int> init();
    /// FUSE_OPEN; returns the fh. Error: errno.
    [[nodiscard]] std::expected<std::uint64_t, int> open(std::uint32_t flags);
    /// FUSE_RELEASE; returns the reply's errno (0 on success).
    int release(std::uint64_t fh);
    /// FUSE_READ of `size` bytes; returns the reply's errno.
    int read(std::uint64_t fh, std::uint32_t size);
    /// FUSE_WRITE of `size` zero bytes; returns the reply's errno.
    int write(std::uint64_t fh, std::uint32_t size);

    struct IoctlOptions {
        pid_t pid = 0;                ///< 0: the calling thread's id
        /// The caller's uid in the request header; -1: this process's.
        uid_t uid = static_cast<uid_t>(-1);
        std::uint32_t flags = 0;      ///< added to FUSE_IOCTL_UNRESTRICTED (e.g. FUSE_IOCTL_COMPAT)
        bool interrupt_first = false; ///< send FUSE_INTERRUPT for the request before it
        /// Called after each FUSE_IOCTL went out, with its unique.
        std::function<void(std::uint64_t unique)> on_sent;
    };
    struct IoctlResult {
        long ret = -1;         ///< what ioctl() returns: >= 0, or -1
        int error = 0;         ///< errno when ret == -1
        unsigned requests = 0; ///< FUSE_IOCTL requests sent (1 + retries)
    };
    /// ioctl(fd, cmd, arg) as the kernel carries it out over CUSE.
    [[nodiscard]] IoctlResult ioctl(std::uint64_t fh, unsigned int cmd, void* arg,
                                    const IoctlOptions& options);
    [[nodiscard]] IoctlResult ioctl(std::uint64_t fh, unsigned int cmd, void* arg)
    {
        return ioctl(fh, cmd, arg, IoctlOptions{});
    }
    /// A FUSE_IOCTL no kernel sends: its in_size claims `claimed` bytes where
    /// `sent` follow it. Returns the reply's errno (0 on success).
    int ioctl_overrunning_message(std::uint64_t fh, unsigned int cmd, std::uint32_t claimed,
                                  std::size_t sent);
    /// FUSE_INTERRUPT for request `unique` (what a signal to the caller does).
    void interrupt(std::uint64_t unique);

    /// True once the daemon closed its end (read returned 0).
    [[nodiscard]] bool closed() const;
    /// Waits (bounded) until the daemon closed its end.
    [[nodiscard]] bool wait_closed(int timeout_ms = reply_timeout_ms);

private:
    struct Reply {
        int error = 0; ///< positive errno
        std::vector<std::byte> payload;
    };
    std::uint64_t next_unique();
    bool send(std::uint32_t opcode, std::uint64_t unique, pid_t pid, const void* arg,
              std::size_t arg_size, const void* extra = nullptr, std::size_t extra_size = 0,
              uid_t uid = ::getuid());
    std::expected<Reply, int> wait_reply(std::uint64_t unique);
    void receiver();

    int fd_;
    std::thread receiver_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::uint64_t, Reply> replies_;
    bool closed_ = false;
    std::uint64_t unique_ = 0;
    bool restricted_ = false; ///< the daemon's CUSE_INIT reply left out CUSE_UNRESTRICTED_IOCTL
};

} // namespace nvmecuse::testing
