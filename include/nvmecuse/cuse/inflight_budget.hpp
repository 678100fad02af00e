// Caps on the caller data the daemon holds for ioctls in flight. Every
// command's buffers live in the daemon (a root process) from the moment its
// ioctl is read until it is answered; without a cap, N threads of one caller
// each issuing a 32 MiB read would pin N x 32 MiB of it. The budget counts
// those bytes per node and per calling process; a command that would pass
// either cap is refused with EAGAIN ("try again": the caller's own commands
// in flight, or the node's, free the room when they finish).
//
// A command is always admitted when its node, or its process, has nothing
// else in flight, so a single command larger than a cap still runs and a
// synchronous caller (nvme-cli, smartctl) never sees EAGAIN.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace nvmecuse::cuse {

struct InflightLimits {
    /// Bytes of command buffers all callers of one node may hold.
    std::uint64_t per_node = std::uint64_t{1} << 30;
    /// Bytes one calling process may hold across every node of the daemon.
    /// Processes are counted in buckets by pid (1024 of them): two
    /// processes that share a bucket share its cap.
    std::uint64_t per_process = std::uint64_t{256} << 20;
};

/// What one admitted command holds; returns it when destroyed. Move-only.
class InflightCharge {
public:
    InflightCharge() = default;
    InflightCharge(InflightCharge&& other) noexcept;
    InflightCharge& operator=(InflightCharge&& other) noexcept;
    InflightCharge(const InflightCharge&) = delete;
    InflightCharge& operator=(const InflightCharge&) = delete;
    ~InflightCharge();

    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

private:
    friend class InflightBudget;
    InflightCharge(std::shared_ptr<std::atomic<std::uint64_t>> node,
                   std::atomic<std::uint64_t>* process, std::uint64_t bytes) noexcept
        : node_(std::move(node)), process_(process), bytes_(bytes)
    {
    }
    void release() noexcept;

    std::shared_ptr<std::atomic<std::uint64_t>> node_; ///< outlives the node
    std::atomic<std::uint64_t>* process_ = nullptr;    ///< a bucket (static)
    std::uint64_t bytes_ = 0;
};

/// One node's budget. Thread-safe and lock-free: any serving thread may
/// charge, any completion release.
class InflightBudget {
public:
    explicit InflightBudget(InflightLimits limits = {});

    /// Admits `bytes` for process `pid`, or returns nothing when a cap
    /// would be passed (answer EAGAIN). Zero bytes are always admitted and
    /// counted nowhere.
    [[nodiscard]] std::optional<InflightCharge> charge(pid_t pid, std::uint64_t bytes);

    /// Bytes the node's callers hold now.
    [[nodiscard]] std::uint64_t node_bytes() const noexcept;
    /// Bytes process `pid` (its bucket) holds now, over every node.
    [[nodiscard]] static std::uint64_t process_bytes(pid_t pid) noexcept;

private:
    InflightLimits limits_;
    std::shared_ptr<std::atomic<std::uint64_t>> node_;
};

} // namespace nvmecuse::cuse
