// FUSE_IOCTL and FUSE_INTERRUPT as the session decodes them itself
// (cuse/fuse_messages): every field from the bytes, never past their end.
#include <gtest/gtest.h>
#include <linux/fuse.h>

#include <cstring>
#include <vector>

#include "cuse/fuse_messages.hpp"

namespace nvmecuse::cuse {
namespace {

using fuse_messages::decode;

template <class Body>
std::vector<std::byte> message(std::uint32_t opcode, std::uint64_t unique, const Body& body,
                               std::size_t extra = 0)
{
    fuse_in_header h{};
    h.len = static_cast<std::uint32_t>(sizeof h + sizeof body + extra);
    h.opcode = opcode;
    h.unique = unique;
    h.uid = 1000;
    h.gid = 100;
    h.pid = 4242;
    std::vector<std::byte> m(sizeof h + sizeof body + extra, std::byte{0x5a});
    std::memcpy(m.data(), &h, sizeof h);
    std::memcpy(m.data() + sizeof h, &body, sizeof body);
    return m;
}

fuse_ioctl_in ioctl_in(std::uint32_t in_size, std::uint32_t flags = FUSE_IOCTL_UNRESTRICTED)
{
    fuse_ioctl_in in{};
    in.fh = 0x8002;
    in.flags = flags;
    in.cmd = 0xc0484e41;
    in.arg = 0x7ffd1234;
    in.in_size = in_size;
    in.out_size = 72;
    return in;
}

TEST(FuseMessages, AnIoctlCarriesItsCallerArgumentAndData)
{
    const auto m = message(FUSE_IOCTL, 77, ioctl_in(16), 16);
    const auto decoded = decode(m);
    const auto* io = std::get_if<fuse_messages::Ioctl>(&decoded);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->request.unique, 77u);
    EXPECT_EQ(io->request.pid, 4242);
    EXPECT_EQ(io->request.uid, 1000u);
    EXPECT_EQ(io->request.gid, 100u);
    EXPECT_EQ(io->fh, 0x8002u);
    EXPECT_EQ(io->flags, unsigned{FUSE_IOCTL_UNRESTRICTED});
    EXPECT_EQ(io->cmd, 0xc0484e41u);
    EXPECT_EQ(io->arg, 0x7ffd1234u);
    EXPECT_EQ(io->out_size, 72u);
    ASSERT_EQ(io->in.size(), 16u);
    EXPECT_EQ(io->in.data(), m.data() + sizeof(fuse_in_header) + sizeof(fuse_ioctl_in));
}

TEST(FuseMessages, AnIoctlWithoutDataHasAnEmptyInBuffer)
{
    // Bytes after in_size are not the ioctl's (the kernel never sends them).
    const auto decoded = decode(message(FUSE_IOCTL, 1, ioctl_in(0), 8));
    const auto* io = std::get_if<fuse_messages::Ioctl>(&decoded);
    ASSERT_NE(io, nullptr);
    EXPECT_TRUE(io->in.empty());
}

TEST(FuseMessages, AnIoctlWhoseInSizeOverrunsTheMessageIsRefusedWithEinval)
{
    const auto decoded = decode(message(FUSE_IOCTL, 9, ioctl_in(17), 16));
    const auto* refused = std::get_if<fuse_messages::Refused>(&decoded);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->request.unique, 9u);
    EXPECT_EQ(refused->errno_value, EINVAL);
}

TEST(FuseMessages, AnIoctlShorterThanItsArgumentIsRefusedWithEinval)
{
    auto m = message(FUSE_IOCTL, 10, ioctl_in(0));
    m.resize(m.size() - 1);
    const auto decoded = decode(m);
    const auto* refused = std::get_if<fuse_messages::Refused>(&decoded);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->request.unique, 10u);
    EXPECT_EQ(refused->errno_value, EINVAL);
}

TEST(FuseMessages, ADirectoryIoctlIsRefusedWithEnotty)
{
    const auto decoded = decode(message(FUSE_IOCTL, 11, ioctl_in(0, FUSE_IOCTL_DIR)));
    const auto* refused = std::get_if<fuse_messages::Refused>(&decoded);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->errno_value, ENOTTY);
}

TEST(FuseMessages, AnInterruptNamesTheRequestItInterrupts)
{
    fuse_interrupt_in in{};
    in.unique = 77;
    const auto decoded = decode(message(FUSE_INTERRUPT, 78 | 1u /* FUSE_INT_REQ_BIT */, in));
    const auto* interrupt = std::get_if<fuse_messages::Interrupt>(&decoded);
    ASSERT_NE(interrupt, nullptr);
    EXPECT_EQ(interrupt->unique, 77u);
}

TEST(FuseMessages, WhatIsNotAnIoctlOrInterruptIsLeftToLibfuse)
{
    fuse_interrupt_in in{};
    auto short_interrupt = message(FUSE_INTERRUPT, 5, in);
    short_interrupt.resize(short_interrupt.size() - 1);
    EXPECT_TRUE(std::holds_alternative<fuse_messages::Other>(decode(short_interrupt)));
    fuse_open_in open{};
    EXPECT_TRUE(std::holds_alternative<fuse_messages::Other>(decode(message(FUSE_OPEN, 6, open))));
    auto header_only = message(FUSE_IOCTL, 7, ioctl_in(0));
    header_only.resize(sizeof(fuse_in_header) - 1);
    EXPECT_TRUE(std::holds_alternative<fuse_messages::Other>(decode(header_only)));
    cuse_init_in init{};
    EXPECT_TRUE(std::holds_alternative<fuse_messages::Init>(decode(message(CUSE_INIT, 1, init))));
}

} // namespace
} // namespace nvmecuse::cuse
