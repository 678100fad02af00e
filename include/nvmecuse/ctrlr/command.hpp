#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>

#include "nvmecuse/ctrlr/node_pool.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/buffer.hpp"

namespace nvmecuse::ctrlr {

using transport::DataBuffer;

/// Which queue a command goes to.
enum class QueueKind : std::uint8_t { admin, io };

/// A command as the rest of the program hands it to a Controller.
/// The Command owns its buffers; they come back in the Result.
struct Command {
    nvme::SubmissionQueueEntry sqe{};  ///< cid is assigned by the controller
    /// Direction of `data` (and `metadata`). `from_opcode()` derives it the
    /// way the Linux driver does for passthrough (opcode bits 1:0).
    nvme::DataTransfer direction = nvme::DataTransfer::none;
    DataBuffer data;
    DataBuffer metadata;
    /// 0 means the controller's default for the queue kind.
    std::chrono::milliseconds timeout{0};

    /// A command whose direction follows its opcode; a bidirectional opcode
    /// is left `bidirectional` and refused by submit().
    static Command from_opcode(const nvme::SubmissionQueueEntry& sqe, DataBuffer data = {},
                               DataBuffer metadata = {})
    {
        Command c;
        c.sqe = sqe;
        c.data = std::move(data);
        c.metadata = std::move(metadata);
        c.direction = (c.data.empty() && c.metadata.empty()) ? nvme::DataTransfer::none
                                                             : nvme::data_transfer(sqe.opc);
        return c;
    }
};

/// What became of a Command.
struct Result {
    /// Set when the command did not complete on the controller:
    /// `timed_out` (no completion within the timeout; the core aborts it),
    /// `operation_canceled` (reset or shutdown swept it away),
    /// `not_connected` (transport down), `invalid_argument` (refused before
    /// submission: bidirectional data, a buffer the transport cannot map).
    /// When set, status/dw0/dw1 carry no meaning.
    /// On `timed_out` the buffers below are EMPTY: the transport may still
    /// write into the command's own buffers until the real completion
    /// arrives (or the queue is reset), so the core keeps them alive until
    /// then and frees them itself. Every other outcome hands them back.
    std::error_code error;
    nvme::Status status{};   ///< the completion's status when !error
    std::uint32_t dw0 = 0;   ///< completion DW0 ("result")
    std::uint32_t dw1 = 0;   ///< completion DW1
    DataBuffer data;         ///< the command's buffers, handed back
    DataBuffer metadata;

    [[nodiscard]] bool completed() const noexcept { return !error; }
    [[nodiscard]] bool ok() const noexcept { return !error && status.is_success(); }
};

/// Called exactly once per submitted command, on the controller's owner thread.
/// Must not block; it may submit further commands.
using CompletionHandler = std::move_only_function<void(Result&&)>;

/// `handler` as a CompletionHandler whose state lives in a recycled block
/// of node_pool rather than on the heap, when it is larger than what a
/// std::move_only_function holds inline and fits a block: a caller that
/// captures its request's state (the CUSE layer) then allocates nothing
/// per command once the pool is warm.
template <class F>
[[nodiscard]] CompletionHandler pooled_handler(F&& handler)
{
    using Fn = std::decay_t<F>;
    if constexpr (sizeof(Fn) > node_pool::block_size ||
                  alignof(Fn) > alignof(std::max_align_t)) {
        return CompletionHandler(std::forward<F>(handler));
    } else {
        struct Release {
            void operator()(Fn* p) const noexcept
            {
                p->~Fn();
                node_pool::deallocate(p);
            }
        };
        void* block = node_pool::allocate();
        Fn* fn = nullptr;
        try {
            fn = ::new (block) Fn(std::forward<F>(handler));
        } catch (...) {
            node_pool::deallocate(block);
            throw;
        }
        return [held = std::unique_ptr<Fn, Release>(fn)](Result&& r) mutable {
            (*held)(std::move(r));
        };
    }
}

} // namespace nvmecuse::ctrlr
