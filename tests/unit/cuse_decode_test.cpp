// Kernel structs -> NVMe commands (nvme_user_cmd{,64}, nvme_submit_io) and
// completions -> ioctl outcomes (nvme_execute_rq), tested directly.
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <gtest/gtest.h>

#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/decode.hpp"
#include "nvmecuse/cuse/path_gate.hpp"

namespace nvmecuse::cuse {
namespace {

template <class T> std::vector<std::byte> bytes_of(const T& v)
{
    std::vector<std::byte> b(sizeof(T));
    std::memcpy(b.data(), &v, sizeof(T));
    return b;
}

const NamespaceShape ns5{5, 4096, 8, false, 1ull << 30};

Route route_for(unsigned int cmd, std::optional<NamespaceShape> ns = ns5)
{
    NodeView node{NodeKind::namespace_node, ns, 0};
    return *classify(cmd, node);
}

nvme_passthru_cmd read_cmd()
{
    nvme_passthru_cmd c{};
    c.opcode = 0x02;
    c.nsid = 5;
    c.cdw2 = 0x22222222;
    c.cdw3 = 0x33333333;
    c.metadata = 0x7000;
    c.addr = 0x10000;
    c.metadata_len = 64;
    c.data_len = 4096;
    c.cdw10 = 10;
    c.cdw11 = 11;
    c.cdw12 = 12;
    c.cdw13 = 13;
    c.cdw14 = 14;
    c.cdw15 = 15;
    c.timeout_ms = 1234;
    c.result = 0xdeadbeef;
    return c;
}

TEST(CuseDecode, PassthruCopiesEveryField)
{
    const auto cmd = decode(route_for(NVME_IOCTL_IO_CMD), 0x5000, bytes_of(read_cmd()));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->op, IoctlOp::io_passthru);
    EXPECT_EQ(cmd->arg_addr, 0x5000u);
    EXPECT_EQ(cmd->queue, ctrlr::QueueKind::io);
    EXPECT_EQ(cmd->sqe.opc, 0x02);
    EXPECT_EQ(cmd->sqe.flags, 0);
    EXPECT_EQ(cmd->sqe.nsid, 5u);
    EXPECT_EQ(cmd->sqe.cdw2, 0x22222222u);
    EXPECT_EQ(cmd->sqe.cdw3, 0x33333333u);
    EXPECT_EQ(cmd->sqe.mptr, 0u); // user pointers never reach the SQE
    EXPECT_EQ(cmd->sqe.prp1, 0u);
    EXPECT_EQ(cmd->sqe.cdw10, 10u);
    EXPECT_EQ(cmd->sqe.cdw11, 11u);
    EXPECT_EQ(cmd->sqe.cdw12, 12u);
    EXPECT_EQ(cmd->sqe.cdw13, 13u);
    EXPECT_EQ(cmd->sqe.cdw14, 14u);
    EXPECT_EQ(cmd->sqe.cdw15, 15u);
    EXPECT_EQ(cmd->timeout, std::chrono::milliseconds(1234));
    EXPECT_EQ(cmd->result, ResultWidth::bits32);
    EXPECT_EQ(cmd->direction, nvme::DataTransfer::controller_to_host);
    ASSERT_EQ(cmd->data.size(), 1u);
    EXPECT_EQ(cmd->data[0], (UserRange{0x10000, 4096}));
    EXPECT_EQ(cmd->data_len, 4096u);
    EXPECT_EQ(cmd->metadata, (UserRange{0x7000, 64}));
    EXPECT_TRUE(cmd->writes_to_caller());
    EXPECT_FALSE(cmd->needs_iovecs());
}

TEST(CuseDecode, Passthru64UsesTheSameLayoutAndA64BitResult)
{
    nvme_passthru_cmd64 c{};
    c.opcode = 0x01; // write
    c.nsid = 5;
    c.addr = 0x20000;
    c.data_len = 512;
    c.cdw10 = 0xa;
    c.cdw15 = 0xf;
    c.timeout_ms = 0;
    const auto cmd = decode(route_for(NVME_IOCTL_IO64_CMD), 0x5000, bytes_of(c));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->result, ResultWidth::bits64);
    EXPECT_EQ(cmd->direction, nvme::DataTransfer::host_to_controller);
    EXPECT_EQ(cmd->timeout, std::chrono::milliseconds(0)); // controller default
    EXPECT_EQ(cmd->sqe.cdw10, 0xau);
    EXPECT_EQ(cmd->sqe.cdw15, 0xfu);
    EXPECT_EQ(cmd->metadata.len, 0u);
}

TEST(CuseDecode, PassthruArgumentErrors)
{
    const auto route = route_for(NVME_IOCTL_IO_CMD);
    auto c = read_cmd();
    c.flags = 0x40; // SGL request: the kernel refuses any flag
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), EINVAL);
    c = read_cmd();
    c.nsid = 6; // nvme_validate_passthru_nsid
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), EINVAL);
    c = read_cmd();
    c.opcode = 0x03; // bidirectional
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), EINVAL);
    c.data_len = 0; // ... but only when data is mapped
    EXPECT_TRUE(decode(route, 0, bytes_of(c)).has_value());
    c = read_cmd();
    c.data_len = (4u << 20) + 1; // past max_hw_sectors
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), EINVAL);
    c = read_cmd();
    c.metadata_len = (4u << 20) + 4; // bounce kmalloc fails
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), ENOMEM);
    // Short struct bytes are a programming error, refused.
    const auto full = bytes_of(read_cmd());
    EXPECT_EQ(decode(route, 0, std::span(full).first(71)).error(), EINVAL);
}

TEST(CuseDecode, AdminPassthruSkipsNsidCheckAndMetadata)
{
    // nvme_ctrl_ioctl passes ns = NULL: any nsid, no bdev -> no metadata.
    const auto route = route_for(NVME_IOCTL_ADMIN_CMD);
    auto c = read_cmd();
    c.opcode = 0x06; // identify
    c.nsid = 0xffffffff;
    const auto cmd = decode(route, 0, bytes_of(c));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->queue, ctrlr::QueueKind::admin);
    EXPECT_EQ(cmd->sqe.nsid, 0xffffffffu);
    EXPECT_EQ(cmd->metadata.len, 0u);
    EXPECT_EQ(cmd->data_len, 4096u);
}

TEST(CuseDecode, BuffersAreMappedOnlyWhenPointerAndLengthAreSet)
{
    const auto route = route_for(NVME_IOCTL_IO_CMD);
    auto c = read_cmd();
    c.addr = 0;
    auto cmd = decode(route, 0, bytes_of(c));
    EXPECT_TRUE(cmd->data.empty());
    EXPECT_EQ(cmd->direction, nvme::DataTransfer::none);
    EXPECT_EQ(cmd->metadata.len, 0u); // metadata rides on the data mapping
    c = read_cmd();
    c.data_len = 0;
    cmd = decode(route, 0, bytes_of(c));
    EXPECT_TRUE(cmd->data.empty());
    c = read_cmd();
    c.metadata = 0;
    EXPECT_EQ(decode(route, 0, bytes_of(c))->metadata.len, 0u);
    c = read_cmd();
    c.metadata_len = 0;
    EXPECT_EQ(decode(route, 0, bytes_of(c))->metadata.len, 0u);
    // Opcode bits 00 with data: nvme_is_write() is false -> a read.
    c = read_cmd();
    c.opcode = 0xc0;
    EXPECT_EQ(decode(route, 0, bytes_of(c))->direction, nvme::DataTransfer::controller_to_host);
}

TEST(CuseDecode, VectoredPassthruReadsIovecsAsASecondStep)
{
    const auto route = route_for(NVME_IOCTL_IO64_CMD_VEC);
    nvme_passthru_cmd64 c{};
    c.opcode = 0x02;
    c.nsid = 5;
    c.addr = 0x9000;
    c.vec_cnt = 3;
    auto cmd = decode(route, 0, bytes_of(c));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_TRUE(cmd->needs_iovecs());
    EXPECT_EQ(cmd->vector, (UserRange{0x9000, 48}));

    const std::uint64_t iov[] = {0x10000, 100, 0x20000, 0, 0x30000, 200};
    std::vector<std::byte> raw(sizeof iov);
    std::memcpy(raw.data(), iov, sizeof iov);
    ASSERT_TRUE(attach_iovecs(*cmd, raw).has_value());
    ASSERT_EQ(cmd->data.size(), 2u); // the empty segment is dropped
    EXPECT_EQ(cmd->data[0], (UserRange{0x10000, 100}));
    EXPECT_EQ(cmd->data[1], (UserRange{0x30000, 200}));
    EXPECT_EQ(cmd->data_len, 300u);
    EXPECT_FALSE(cmd->needs_iovecs());

    auto again = decode(route, 0, bytes_of(c));
    EXPECT_EQ(attach_iovecs(*again, std::span(raw).first(32)).error(), EINVAL); // wrong size
    const std::uint64_t empty[] = {0x1, 0, 0x2, 0, 0x3, 0};
    std::memcpy(raw.data(), empty, sizeof empty);
    EXPECT_EQ(attach_iovecs(*again, raw).error(), EINVAL); // nothing to map
    const std::uint64_t big[] = {0x1, 1ull << 63, 0x2, 1, 0x3, 1};
    std::memcpy(raw.data(), big, sizeof big);
    EXPECT_EQ(attach_iovecs(*again, raw).error(), EINVAL); // > SSIZE_MAX
    const std::uint64_t over[] = {0x1, 3u << 20, 0x2, 3u << 20, 0x3, 1};
    std::memcpy(raw.data(), over, sizeof over);
    EXPECT_EQ(attach_iovecs(*again, raw).error(), EINVAL); // > max_data_bytes

    c.vec_cnt = 1025; // UIO_MAXIOV
    EXPECT_EQ(decode(route, 0, bytes_of(c)).error(), EINVAL);
}

nvme_user_io user_io(std::uint8_t opcode)
{
    nvme_user_io io{};
    io.opcode = opcode;
    io.control = 0x4000; // LR (cdw12 bit 30 when shifted)
    io.nblocks = 7;      // 8 blocks
    io.metadata = 0x8000;
    io.addr = 0x40000;
    io.slba = 0x1122334455ull;
    io.dsmgmt = 0xa5;
    io.reftag = 0xcafef00d;
    io.apptag = 0x1234;
    io.appmask = 0xffff;
    return io;
}

TEST(CuseDecode, SubmitIoBuildsTheReadWriteCommand)
{
    const auto route = route_for(NVME_IOCTL_SUBMIT_IO);
    const auto cmd = decode(route, 0x5000, bytes_of(user_io(0x02)));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->sqe.opc, 0x02);
    EXPECT_EQ(cmd->sqe.nsid, 5u); // always M
    EXPECT_EQ(nvme::cmd::rw::slba(cmd->sqe), 0x1122334455ull);
    EXPECT_EQ(cmd->sqe.cdw12, 7u | 0x4000u << 16);
    EXPECT_EQ(nvme::cmd::rw::num_blocks(cmd->sqe), 8u);
    EXPECT_EQ(cmd->sqe.cdw13, 0xa5u);
    EXPECT_EQ(cmd->sqe.cdw14, 0xcafef00du);
    EXPECT_EQ(nvme::cmd::rw::Apptag::get(cmd->sqe), 0x1234u);
    EXPECT_EQ(nvme::cmd::rw::Appmask::get(cmd->sqe), 0xffffu);
    EXPECT_EQ(cmd->result, ResultWidth::none);
    EXPECT_EQ(cmd->queue, ctrlr::QueueKind::io);
    EXPECT_EQ(cmd->direction, nvme::DataTransfer::controller_to_host);
    EXPECT_EQ(cmd->data[0], (UserRange{0x40000, 8 * 4096}));
    EXPECT_EQ(cmd->metadata, (UserRange{0x8000, 8 * 8})); // separate metadata: (nblocks+1) * ms
    EXPECT_EQ(decode(route, 0, bytes_of(user_io(0x01)))->direction, nvme::DataTransfer::host_to_controller);
    EXPECT_EQ(decode(route, 0, bytes_of(user_io(0x05)))->direction, nvme::DataTransfer::host_to_controller);
}

TEST(CuseDecode, SubmitIoMetadataArithmetic)
{
    constexpr std::uint16_t pract = 1u << 13;
    // Extended LBAs: metadata travels inside the data buffer.
    auto ext = ns5;
    ext.extended_metadata = true;
    auto cmd = decode(route_for(NVME_IOCTL_SUBMIT_IO, ext), 0, bytes_of(user_io(0x01)));
    EXPECT_EQ(cmd->data_len, 8u * (4096 + 8));
    EXPECT_EQ(cmd->metadata.len, 0u);

    // PRACT with an 8-byte PI tuple: the controller inserts/strips it all.
    auto io = user_io(0x01);
    io.control |= pract;
    io.metadata = 0;
    cmd = decode(route_for(NVME_IOCTL_SUBMIT_IO), 0, bytes_of(io));
    EXPECT_EQ(cmd->data_len, 8u * 4096);
    EXPECT_EQ(cmd->metadata.len, 0u);
    io.metadata = 0x8000; // ... and then a metadata pointer is an error
    EXPECT_EQ(decode(route_for(NVME_IOCTL_SUBMIT_IO), 0, bytes_of(io)).error(), EINVAL);
    EXPECT_EQ(decode(route_for(NVME_IOCTL_SUBMIT_IO, ext), 0, bytes_of(io)).error(), EINVAL);

    // PRACT with 16 bytes of metadata: the PI is only part of it, so transfer it.
    auto ms16 = ns5;
    ms16.metadata_size = 16;
    cmd = decode(route_for(NVME_IOCTL_SUBMIT_IO, ms16), 0, bytes_of(io));
    EXPECT_EQ(cmd->metadata, (UserRange{0x8000, 8 * 16}));

    // Separate metadata needs an aligned, non-null pointer.
    io = user_io(0x02);
    io.metadata = 0;
    EXPECT_EQ(decode(route_for(NVME_IOCTL_SUBMIT_IO), 0, bytes_of(io)).error(), EINVAL);
    io.metadata = 0x8002;
    EXPECT_EQ(decode(route_for(NVME_IOCTL_SUBMIT_IO), 0, bytes_of(io)).error(), EINVAL);
    // Without metadata in the format nothing is checked.
    auto plain = ns5;
    plain.metadata_size = 0;
    cmd = decode(route_for(NVME_IOCTL_SUBMIT_IO, plain), 0, bytes_of(io));
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->metadata.len, 0u);
}

TEST(CuseDecode, SubmitIoArgumentErrors)
{
    const auto route = route_for(NVME_IOCTL_SUBMIT_IO);
    auto io = user_io(0x00); // flush
    EXPECT_EQ(decode(route, 0, bytes_of(io)).error(), EINVAL);
    io = user_io(0x08); // write zeroes
    EXPECT_EQ(decode(route, 0, bytes_of(io)).error(), EINVAL);
    io = user_io(0x02);
    io.flags = 1;
    EXPECT_EQ(decode(route, 0, bytes_of(io)).error(), EINVAL);
    io = user_io(0x02);
    io.nblocks = 0xffff; // 65536 * 4 KiB = 256 MiB > max_submit_io_bytes
    EXPECT_EQ(decode(route, 0, bytes_of(io)).error(), EINVAL);
    DecodeLimits big;
    big.max_submit_io_bytes = 1ull << 30;
    big.max_metadata_bytes = 1ull << 30;
    EXPECT_EQ(decode(route, 0, bytes_of(io), big)->data_len, 65536ull * 4096);
    // No buffer: the kernel submits the command without mapping anything.
    io = user_io(0x02);
    io.addr = 0;
    const auto cmd = decode(route, 0, bytes_of(io));
    EXPECT_TRUE(cmd->data.empty());
    EXPECT_EQ(cmd->metadata.len, 0u);
}

TEST(CuseDecode, SubmitIoRefusedWithoutARepresentableLbaSize)
{
    // LBADS 40: NamespaceInfo has lba_data_size 0 and capacity 0.
    const auto route = route_for(NVME_IOCTL_SUBMIT_IO, NamespaceShape{5, 0, 0, false, 0});
    const auto cmd = decode(route, 0, bytes_of(user_io(0x02)));
    ASSERT_FALSE(cmd.has_value());
    EXPECT_EQ(cmd.error(), EINVAL);
}

TEST(CuseDecode, LimitsFromMdts)
{
    const auto l = DecodeLimits::for_mdts(512 * 1024);
    EXPECT_EQ(l.max_data_bytes, 512u * 1024);
    EXPECT_EQ(l.max_submit_io_bytes, 512u * 1024);
    EXPECT_EQ(DecodeLimits::for_mdts(0).max_data_bytes, DecodeLimits{}.max_data_bytes);
}

TEST(CuseDecode, BuildCommandCarriesBuffersAndTimeout)
{
    auto cmd = *decode(route_for(NVME_IOCTL_IO_CMD), 0, bytes_of(read_cmd()));
    auto c = build_command(cmd, ctrlr::DataBuffer::zeroed(4096), ctrlr::DataBuffer::zeroed(64));
    EXPECT_EQ(c.direction, nvme::DataTransfer::controller_to_host);
    EXPECT_EQ(c.data.size(), 4096u);
    EXPECT_EQ(c.metadata.size(), 64u);
    EXPECT_EQ(c.timeout, std::chrono::milliseconds(1234));
    EXPECT_EQ(c.sqe.cdw10, 10u);
    c = build_command(cmd, {}, {});
    EXPECT_EQ(c.direction, nvme::DataTransfer::none);
}

// --- completion mapping --------------------------------------------------

ctrlr::Result completed(nvme::Status s, std::uint32_t dw0, std::uint32_t dw1)
{
    ctrlr::Result r;
    r.status = s;
    r.dw0 = dw0;
    r.dw1 = dw1;
    return r;
}
ctrlr::Result failed(std::errc e)
{
    ctrlr::Result r;
    r.error = std::make_error_code(e);
    return r;
}

TEST(CuseCompletion, MappingTable)
{
    struct Row {
        ctrlr::Result result;
        ResultWidth width;
        int value;
        bool write_result;
        std::uint64_t result_value;
        bool copy_metadata;
    };
    using nvme::GenericStatus;
    const Row rows[] = {
        {completed({}, 0x11, 0x22), ResultWidth::bits32, 0, true, 0x11, true},
        {completed({}, 0x11, 0x22), ResultWidth::bits64, 0, true, 0x2200000011ull, true},
        {completed({}, 0x11, 0x22), ResultWidth::none, 0, false, 0, true},
        // Error status: positive status field, result still written (SPDK #2278).
        {completed(nvme::Status(nvme::CommandSpecificStatus::namespace_identifier_unavailable), 9, 0),
         ResultWidth::bits32, 0x116, true, 9, false},
        {completed(nvme::Status(GenericStatus::lba_out_of_range).with_dnr(), 0, 0), ResultWidth::bits64,
         0x4080, true, 0, false},
        {completed(nvme::Status(GenericStatus::invalid_field).with_more().with_dnr(), 1, 2),
         ResultWidth::bits32, 0x6002, true, 1, false},
        {completed(nvme::Status(nvme::MediaStatus::compare_failure), 0, 0), ResultWidth::none, 0x285,
         false, 0, false},
        {failed(std::errc::timed_out), ResultWidth::bits32, -EINTR, false, 0, false},
        {failed(std::errc::operation_canceled), ResultWidth::bits64, -EINTR, false, 0, false},
        {failed(std::errc::not_connected), ResultWidth::bits32, 0x370, true, 0, false},
        // Refused while reconnecting: the status, no transfer.
        {completed(nvme::Status(nvme::PathStatus::host_pathing_error), 0, 0), ResultWidth::bits64, 0x370,
         true, 0, false},
        // In flight when the connection dropped: cancelled, EINTR (nvme_execute_rq()).
        {completed(nvme::Status(nvme::PathStatus::command_aborted_by_host), 0, 0), ResultWidth::bits32,
         -EINTR, false, 0, false},
        {failed(std::errc::invalid_argument), ResultWidth::bits32, -EINVAL, false, 0, false},
        {failed(std::errc::not_enough_memory), ResultWidth::bits32, -ENOMEM, false, 0, false},
        {failed(std::errc::no_such_device), ResultWidth::bits32, -ENODEV, false, 0, false},
        {failed(std::errc::resource_deadlock_would_occur), ResultWidth::bits32, -EIO, false, 0, false},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message() << "value " << row.value);
        const auto out = map_completion(row.result, row.width);
        EXPECT_EQ(out.value, row.value);
        EXPECT_EQ(out.write_result, row.write_result);
        EXPECT_EQ(out.result, row.result_value);
        EXPECT_EQ(out.copy_metadata, row.copy_metadata);
        EXPECT_EQ(out.copy_data, row.value >= 0 && row.value != 0x370); // host path error: no transfer
        EXPECT_EQ(out.is_errno(), row.value < 0);
    }
}

TEST(CuseCompletion, ReplyWritesResultFieldThenDataThenMetadata)
{
    auto cmd = *decode(route_for(NVME_IOCTL_IO_CMD), 0x5000, bytes_of(read_cmd()));
    std::vector<std::byte> data(4096, std::byte{0xab});
    std::vector<std::byte> meta(64, std::byte{0xcd});

    auto plan = build_reply(cmd, map_completion(completed({}, 0x89abcdef, 0x77), ResultWidth::bits32), data, meta);
    EXPECT_EQ(plan.value, 0);
    EXPECT_EQ(plan.result_addr, 0x5000u + 68);
    ASSERT_EQ(plan.result_size, 4u); // truncated to the 32-bit field: DW1 dropped
    std::uint32_t r32 = 0;
    std::memcpy(&r32, plan.result().data(), 4);
    EXPECT_EQ(r32, 0x89abcdefu);
    ASSERT_EQ(plan.writes.size(), 2u);
    EXPECT_EQ(plan.writes[0].addr, 0x10000u);
    EXPECT_EQ(plan.writes[0].bytes.size(), 4096u);
    EXPECT_EQ(plan.writes[1].addr, 0x7000u);
    const auto flat = plan.flatten();
    ASSERT_EQ(flat.size(), 4u + 4096 + 64);
    EXPECT_EQ(flat[4], std::byte{0xab});
    EXPECT_EQ(flat.back(), std::byte{0xcd});

    // Error status: result and data, no metadata.
    plan = build_reply(cmd, map_completion(completed(nvme::GenericStatus::internal_error, 5, 0), ResultWidth::bits32),
                       data, meta);
    EXPECT_EQ(plan.value, 6);
    EXPECT_EQ(plan.writes.size(), 1u);
    // errno: nothing at all.
    plan = build_reply(cmd, map_completion(failed(std::errc::timed_out), ResultWidth::bits32), data, meta);
    EXPECT_EQ(plan.value, -EINTR);
    EXPECT_EQ(plan.result_size, 0u);
    EXPECT_TRUE(plan.writes.empty());
    EXPECT_TRUE(plan.flatten().empty());
}

TEST(CuseCompletion, ReplySplitsVectoredReadsAcrossSegments)
{
    nvme_passthru_cmd64 c{};
    c.opcode = 0x02;
    c.nsid = 5;
    c.addr = 0x9000;
    c.vec_cnt = 2;
    auto cmd = *decode(route_for(NVME_IOCTL_IO64_CMD_VEC), 0x5000, bytes_of(c));
    const std::uint64_t iov[] = {0x10000, 3, 0x20000, 5};
    std::vector<std::byte> raw(sizeof iov);
    std::memcpy(raw.data(), iov, sizeof iov);
    ASSERT_TRUE(attach_iovecs(cmd, raw).has_value());
    std::vector<std::byte> data(8);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i);
    const auto plan = build_reply(cmd, map_completion(completed({}, 1, 2), ResultWidth::bits64), data, {});
    EXPECT_EQ(plan.result_addr, 0x5000u + 72);
    EXPECT_EQ(plan.result_size, 8u);
    ASSERT_EQ(plan.writes.size(), 2u);
    EXPECT_EQ(plan.writes[0].addr, 0x10000u);
    EXPECT_EQ(plan.writes[0].bytes.size(), 3u);
    EXPECT_EQ(plan.writes[1].addr, 0x20000u);
    EXPECT_EQ(plan.writes[1].bytes[0], std::byte{3});
}

TEST(CuseCompletion, WritesSendNothingButTheResult)
{
    auto c = read_cmd();
    c.opcode = 0x01;
    const auto cmd = *decode(route_for(NVME_IOCTL_IO_CMD), 0x5000, bytes_of(c));
    std::vector<std::byte> data(4096);
    const auto plan = build_reply(cmd, map_completion(completed({}, 0, 0), ResultWidth::bits32), data, {});
    EXPECT_TRUE(plan.writes.empty());
    EXPECT_EQ(plan.flatten().size(), 4u);
}

// What the nodes answer while the connection is down (the Linux 6.1 host's
// answers, tests/vm/suites/tcp-reconnect-states.sh).
TEST(CusePathGate, AnswersPerNodeAndState)
{
    using P = PathState;
    constexpr auto ctrl = NodeKind::controller;
    constexpr auto ns = NodeKind::namespace_node;
    const unsigned blk_cmds[] = {BLKSSZGET, BLKPBSZGET, BLKGETSIZE64, BLKGETSIZE};
    const unsigned nvme_cmds[] = {NVME_IOCTL_ID, NVME_IOCTL_ADMIN_CMD, NVME_IOCTL_ADMIN64_CMD,
                                  NVME_IOCTL_IO_CMD, NVME_IOCTL_IO64_CMD, NVME_IOCTL_SUBMIT_IO,
                                  NVME_IOCTL_RESCAN, _IO('N', 0x7f)};
    for (const unsigned cmd : nvme_cmds) {
        SCOPED_TRACE(cmd);
        EXPECT_EQ(path_down_answer(ctrl, cmd, P::live), std::nullopt);
        EXPECT_EQ(path_down_answer(ns, cmd, P::live), std::nullopt);
        EXPECT_EQ(path_down_answer(ns, cmd, P::reconnecting), -EAGAIN);
        EXPECT_EQ(path_down_answer(ns, cmd, P::lost), -EAGAIN);
    }
    for (const unsigned cmd : blk_cmds) {
        EXPECT_EQ(path_down_answer(ns, cmd, P::reconnecting), std::nullopt);
        EXPECT_EQ(path_down_answer(ns, cmd, P::lost), std::nullopt);
    }
    // Reconnecting: passthrough reaches the controller's queues (0x370 there).
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_ADMIN_CMD, P::reconnecting), std::nullopt);
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_IO_CMD, P::reconnecting), std::nullopt);
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_RESET, P::reconnecting), std::nullopt); // EBUSY there
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_RESCAN, P::reconnecting), 0);
    // Deleted: no admin queue, no namespaces.
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_ADMIN_CMD, P::lost), -ENODEV);
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_ADMIN64_CMD, P::lost), -ENODEV);
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_IO_CMD, P::lost), -ENOTTY);
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_ID, P::lost), std::nullopt); // ENOTTY as always
    EXPECT_EQ(path_down_answer(ctrl, NVME_IOCTL_RESCAN, P::lost), 0);

    EXPECT_EQ(open_errno(ctrl, P::live), 0);
    EXPECT_EQ(open_errno(ctrl, P::reconnecting), EAGAIN);
    EXPECT_EQ(open_errno(ctrl, P::lost), EAGAIN);
    EXPECT_EQ(open_errno(ns, P::reconnecting), 0);
    EXPECT_EQ(open_errno(ns, P::lost), 0);
    EXPECT_FALSE(capacity_gone(P::reconnecting));
    EXPECT_TRUE(capacity_gone(P::lost));
}

} // namespace
} // namespace nvmecuse::cuse
