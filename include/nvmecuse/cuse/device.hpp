// One CUSE device node (/dev/<dir>/nvme<N> or nvme<N>n<M>) backed by a
// ctrlr::Controller: its own CUSE session, the Linux NVMe ioctl ABI on it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/inflight_budget.hpp"
#include "nvmecuse/cuse/credentials.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"
#include "nvmecuse/cuse/latency_sampler.hpp"
#include "nvmecuse/cuse/permission.hpp"

namespace nvmecuse::cuse {

/// How the daemon learns a caller's privileges; injectable so tests can
/// play privileged and unprivileged callers. Called on reader threads.
using CredentialsReader = std::function<std::expected<CallerCredentials, std::error_code>(pid_t)>;

/// Owner and mode of the node. CUSE nodes are created by the kernel
/// (devtmpfs/udev) as root 0600; the Device applies these with chmod/chown
/// on /dev/<devname> once the kernel has created it.
struct NodePermissions {
    mode_t mode = 0600;
    uid_t uid = 0;
    gid_t gid = 0;
    bool apply = true; ///< false in tests (no /dev node exists)
};

struct DeviceOptions {
    NodeKind kind = NodeKind::controller;
    std::uint32_t nsid = 0;      ///< namespace nodes: M
    std::string devname;         ///< DEVNAME relative to /dev, e.g. "nvmecuse/nvme0n1"
    unsigned reader_threads = 1; ///< threads reading FUSE requests (ioctls never block them)
    /// Serve the node on the controller's owner thread instead of reader
    /// threads: no hand-off between threads per ioctl (reader_threads unused).
    bool serve_on_owner_thread = false;
    /// Serve the node on these serving threads instead (all of them read
    /// its requests; takes precedence over the two above): an I/O command
    /// read on one goes to that thread's queue pair of the controller
    /// (ctrlr::Controller::Options::reactors) and is answered there.
    std::vector<ctrlr::Reactor*> reactors;
    bool fast_path = true; ///< try process_vm_readv/writev before the retry protocol
    /// With fast_path: restricted ioctls, the kernel copying the argument
    /// struct in with the request (one process_vm_readv less per ioctl). No
    /// retry protocol then, so only where process_vm_* reaches every caller
    /// (process_vm_reaches_every_caller()). Differs from the kernel's nvme
    /// driver in one way: an ioctl whose number encodes an argument and
    /// whose pointer is bad fails with EFAULT before the node can refuse
    /// it (ENOTTY for a foreign number, EACCES for an unprivileged caller).
    bool restricted_ioctls = false;
    NodePermissions permissions{};
    CredentialsReader credentials; ///< empty: read_caller_credentials()
    /// Whose permission model the node follows (nvmecused: the running
    /// kernel's, or --kernel-rules).
    KernelRules kernel_rules = KernelRules::linux_6_1;
    /// Caps on the command buffers held for ioctls in flight (EAGAIN past
    /// them; inflight_budget.hpp).
    InflightLimits inflight{};
};

/// Counters of one node (monotonic). The FUSE requests of one ioctl are the
/// difference of ioctl_requests before and after it: 1 on the fast path,
/// the retry protocol's minimum otherwise (3 for a passthrough with data).
struct DeviceStats {
    std::uint64_t fuse_requests = 0;   ///< every request (open, release, read, write, ioctl)
    std::uint64_t ioctl_requests = 0;  ///< FUSE_IOCTL requests, first ones and retries
    std::uint64_t ioctls_answered = 0; ///< final answers (value, errno), not retries
    std::uint64_t fast_path = 0;       ///< ioctls whose buffers moved by process_vm_*
    std::uint64_t retries = 0;         ///< FUSE_IOCTL_RETRY replies
    std::uint64_t interrupts = 0;      ///< interrupts that hit a request in flight
    std::uint64_t in_flight = 0;       ///< ioctls waiting for the controller now
    std::uint64_t in_flight_bytes = 0; ///< their command buffers, in bytes
    std::uint64_t over_budget = 0;     ///< ioctls refused with EAGAIN by the caps
    std::uint64_t commands = 0;        ///< NVMe commands posted (an ioctl past MDTS posts several)
    std::uint64_t errors = 0;          ///< answers with an errno or an NVMe error status
    std::uint64_t bytes_read = 0;      ///< data bytes completed commands moved to callers
    std::uint64_t bytes_written = 0;   ///< data bytes completed commands took from callers
    /// Sampled (1 in LatencySampler::every per thread) time from the
    /// daemon's start on an ioctl to its answer, for ioctls that reached the
    /// controller; the CUSE round trip and the caller's side are not in it.
    LatencyPercentiles latency;
};

/// Opens /dev/cuse for one session (O_RDWR | O_CLOEXEC). ENOENT/ENODEV mean
/// the cuse module is not loaded ("modprobe cuse"). Any thread.
[[nodiscard]] std::expected<int, std::error_code> open_cuse_channel();

/// One device node. Ioctls are decoded on the session's reader threads,
/// posted to the Controller (many in flight), and answered from the
/// completion on the controller's owner thread.
class Device {
public:
    /// Starts the session on `channel` (an fd from open_cuse_channel(), or
    /// in tests one end of a SOCK_SEQPACKET socketpair); the Device owns it
    /// from then on, also on failure. `controller` must outlive the Device.
    /// Any thread but a reader thread of another Device's session.
    [[nodiscard]] static std::expected<std::unique_ptr<Device>, std::error_code>
    start(ctrlr::Controller& controller, DeviceOptions options, int channel);

    /// stop().
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    /// Joins the reader threads, answers every ioctl still waiting with
    /// ENODEV (their commands may still run; results are dropped) and closes
    /// the channel, so the kernel removes the node. Idempotent. Not from the
    /// session's own reader threads.
    void stop();

    [[nodiscard]] const std::string& devname() const noexcept;
    [[nodiscard]] std::uint32_t nsid() const noexcept;
    [[nodiscard]] DeviceStats stats() const;

    class Impl;

private:
    explicit Device(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace nvmecuse::cuse
