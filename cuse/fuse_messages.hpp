// The FUSE messages a CUSE node serves itself, without libfuse: FUSE_IOCTL
// and FUSE_INTERRUPT decoded from the bytes the channel gave, checked
// against them. Private to cuse/ (Session::process()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "session.hpp"

namespace nvmecuse::cuse::fuse_messages {

/// FUSE_IOCTL: the kernel's fuse_ioctl_in and the bytes that follow it.
struct Ioctl {
    Request request;
    std::uint64_t fh = 0; ///< the handle FUSE_OPEN returned
    std::uint32_t flags = 0;
    std::uint32_t cmd = 0;
    std::uint64_t arg = 0;
    std::span<const std::byte> in; ///< in_size bytes (a retry's copied-in buffers)
    std::uint32_t out_size = 0;
};

/// FUSE_INTERRUPT of the request `unique`; it gets no answer.
struct Interrupt {
    std::uint64_t unique = 0;
};

/// A FUSE_IOCTL that cannot be served, to answer with `errno_value`: one
/// shorter than fuse_ioctl_in, or whose in_size claims more bytes than
/// followed it (EINVAL, as the kernel answers an ioctl whose argument it
/// cannot read; no kernel sends one, libfuse 3.14 would decode the missing
/// bytes from whatever its buffer held before), or a directory ioctl
/// (ENOTTY, as libfuse answers it: CUSE never sets FUSE_IOCTL_DIR).
struct Refused {
    Request request;
    int errno_value = 0;
};

/// CUSE_INIT: libfuse answers it; FUSE_IOCTL may come from then on.
struct Init {};

/// Anything else: libfuse's to serve (CUSE_INIT, open, release, …), or
/// nothing at all (shorter than a header, an interrupt without a body).
struct Other {};

using Message = std::variant<Other, Init, Ioctl, Interrupt, Refused>;

/// Decodes one message as read from the channel (never past its end).
[[nodiscard]] Message decode(std::span<const std::byte> message) noexcept;

} // namespace nvmecuse::cuse::fuse_messages
