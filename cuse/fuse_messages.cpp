#include "fuse_messages.hpp"

#include <linux/fuse.h>

#include <cerrno>
#include <cstring>

namespace nvmecuse::cuse::fuse_messages {
namespace {

template <class T> T read_at(std::span<const std::byte> bytes, std::size_t offset) noexcept
{
    T value{};
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

} // namespace

Message decode(std::span<const std::byte> message) noexcept
{
    if (message.size() < sizeof(fuse_in_header)) return Other{};
    const auto header = read_at<fuse_in_header>(message, 0);
    const std::span<const std::byte> body = message.subspan(sizeof header);
    if (header.opcode == FUSE_INTERRUPT) {
        if (body.size() < sizeof(fuse_interrupt_in)) return Other{};
        return Interrupt{read_at<fuse_interrupt_in>(body, 0).unique};
    }
    if (header.opcode == CUSE_INIT) return Init{};
    if (header.opcode != FUSE_IOCTL) return Other{};
    const Request request{header.unique, static_cast<pid_t>(header.pid), header.uid, header.gid};
    if (body.size() < sizeof(fuse_ioctl_in)) return Refused{request, EINVAL};
    const auto in = read_at<fuse_ioctl_in>(body, 0);
    const std::span<const std::byte> data = body.subspan(sizeof in);
    if (in.in_size > data.size()) return Refused{request, EINVAL};
    if ((in.flags & FUSE_IOCTL_DIR) != 0) return Refused{request, ENOTTY};
    return Ioctl{.request = request,
                 .fh = in.fh,
                 .flags = in.flags,
                 .cmd = in.cmd,
                 .arg = in.arg,
                 .in = data.first(in.in_size),
                 .out_size = in.out_size};
}

} // namespace nvmecuse::cuse::fuse_messages
