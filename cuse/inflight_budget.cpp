#include "nvmecuse/cuse/inflight_budget.hpp"

#include <array>
#include <utility>

namespace nvmecuse::cuse {
namespace {

constexpr std::size_t process_buckets = 1024;

std::atomic<std::uint64_t>& bucket_of(pid_t pid) noexcept
{
    static std::array<std::atomic<std::uint64_t>, process_buckets> buckets{};
    return buckets[static_cast<std::uint32_t>(pid) % process_buckets];
}

/// Adds `bytes` unless the counter is in use and would pass `cap`.
bool try_add(std::atomic<std::uint64_t>& counter, std::uint64_t bytes, std::uint64_t cap) noexcept
{
    std::uint64_t now = counter.load(std::memory_order_relaxed);
    do {
        if (now != 0 && (bytes > cap || now > cap - bytes)) return false;
    } while (!counter.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    return true;
}

} // namespace

InflightCharge::InflightCharge(InflightCharge&& other) noexcept
    : node_(std::move(other.node_)), process_(std::exchange(other.process_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0))
{
}

InflightCharge& InflightCharge::operator=(InflightCharge&& other) noexcept
{
    if (this != &other) {
        release();
        node_ = std::move(other.node_);
        process_ = std::exchange(other.process_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

InflightCharge::~InflightCharge() { release(); }

void InflightCharge::release() noexcept
{
    if (bytes_ == 0) return;
    if (node_) node_->fetch_sub(bytes_, std::memory_order_relaxed);
    if (process_ != nullptr) process_->fetch_sub(bytes_, std::memory_order_relaxed);
    node_.reset();
    process_ = nullptr;
    bytes_ = 0;
}

InflightBudget::InflightBudget(InflightLimits limits)
    : limits_(limits), node_(std::make_shared<std::atomic<std::uint64_t>>(0))
{
}

std::optional<InflightCharge> InflightBudget::charge(pid_t pid, std::uint64_t bytes)
{
    if (bytes == 0) return InflightCharge{};
    if (!try_add(*node_, bytes, limits_.per_node)) return std::nullopt;
    auto& process = bucket_of(pid);
    if (!try_add(process, bytes, limits_.per_process)) {
        node_->fetch_sub(bytes, std::memory_order_relaxed);
        return std::nullopt;
    }
    return InflightCharge(node_, &process, bytes);
}

std::uint64_t InflightBudget::node_bytes() const noexcept
{
    return node_->load(std::memory_order_relaxed);
}

std::uint64_t InflightBudget::process_bytes(pid_t pid) noexcept
{
    return bucket_of(pid).load(std::memory_order_relaxed);
}

} // namespace nvmecuse::cuse
