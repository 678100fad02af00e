#pragma once

// Shared fixture for the emulated controller's unit tests: drives an
// EmulatedController directly (synchronously, no owner thread) and offers
// small builders for the commands the tests send.

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <span>
#include <vector>

#include "nvmecuse/spec/nvme.hpp"
#include "transport/emu/emulated_controller.hpp"

namespace nvmecuse::emu::testing {

/// Status equality with readable failure messages.
#define EXPECT_STATUS(outcome, expected_status)                                              \
    EXPECT_EQ(nvme::to_string((outcome).status), nvme::to_string(nvme::Status(expected_status)))
#define ASSERT_STATUS(outcome, expected_status)                                              \
    ASSERT_EQ(nvme::to_string((outcome).status), nvme::to_string(nvme::Status(expected_status)))
#define EXPECT_OK(outcome) EXPECT_STATUS(outcome, nvme::Status::success())
#define ASSERT_OK(outcome) ASSERT_STATUS(outcome, nvme::Status::success())

using Bytes = std::vector<std::byte>;

inline Bytes pattern(std::size_t size, unsigned seed)
{
    Bytes b(size);
    for (std::size_t i = 0; i < size; ++i)
        b[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
    return b;
}

/// The default test controller: ns1 = 64 MiB with 512-byte blocks, ns2 =
/// 16 MiB with 4096-byte blocks and 8 bytes of separate metadata, 1 GiB of
/// total capacity, room for 8 namespaces.
/// A namespace config (GCC 12 warns about designated initializers that
/// leave members out, so tests build them with this).
inline NamespaceConfig ns_config(std::uint32_t nsid, std::uint64_t size_bytes,
                                 std::uint32_t lba_data_size = 512, std::uint16_t metadata_size = 0,
                                 bool extended_metadata = false)
{
    NamespaceConfig n;
    n.nsid = nsid;
    n.size_bytes = size_bytes;
    n.lba_data_size = lba_data_size;
    n.metadata_size = metadata_size;
    n.extended_metadata = extended_metadata;
    return n;
}

inline ControllerConfig default_test_config()
{
    ControllerConfig c;
    c.total_capacity_bytes = 1ull << 30;
    c.max_namespaces = 8;
    c.namespaces = {ns_config(1, 64ull << 20, 512), ns_config(2, 16ull << 20, 4096, 8)};
    return c;
}

class EmuTest : public ::testing::Test {
protected:
    void SetUp() override { create(default_test_config()); }

    /// (Re)creates the controller from `config`; time starts at `now`.
    void create(ControllerConfig config)
    {
        auto made = EmulatedController::create(std::move(config), [this] { return now; });
        ASSERT_TRUE(made.has_value()) << made.error().message();
        ctrl = std::move(*made);
        ctrl->set_async_sink([this](std::uint16_t cid, const Outcome& o) {
            async_completions.emplace_back(cid, o);
        });
    }

    /// Executes an admin command with a host buffer (direction from the opcode).
    Outcome admin(const nvme::SubmissionQueueEntry& sqe, std::span<std::byte> data = {},
                  std::span<std::byte> metadata = {})
    {
        return run(0, sqe, data, metadata);
    }
    /// Executes an I/O command on queue 1.
    Outcome io(const nvme::SubmissionQueueEntry& sqe, std::span<std::byte> data = {},
               std::span<std::byte> metadata = {})
    {
        return run(1, sqe, data, metadata);
    }
    Outcome run(std::uint16_t qid, nvme::SubmissionQueueEntry sqe, std::span<std::byte> data,
                std::span<std::byte> metadata)
    {
        sqe.cid = next_cid++;
        const auto dir = (data.empty() && metadata.empty()) ? nvme::DataTransfer::none
                                                            : nvme::data_transfer(sqe.opc);
        return ctrl->execute(CommandContext{qid, sqe, dir, data, metadata});
    }

    static nvme::SubmissionQueueEntry sqe(nvme::AdminOpcode op, std::uint32_t nsid = 0)
    {
        nvme::SubmissionQueueEntry s{};
        s.opc = static_cast<std::uint8_t>(op);
        s.nsid = nsid;
        return s;
    }
    static nvme::SubmissionQueueEntry sqe(nvme::NvmOpcode op, std::uint32_t nsid)
    {
        nvme::SubmissionQueueEntry s{};
        s.opc = static_cast<std::uint8_t>(op);
        s.nsid = nsid;
        return s;
    }
    /// Read/Write/Compare/... of `blocks` blocks at `slba`.
    static nvme::SubmissionQueueEntry rw(nvme::NvmOpcode op, std::uint32_t nsid, std::uint64_t slba,
                                         std::uint32_t blocks)
    {
        auto s = sqe(op, nsid);
        nvme::cmd::rw::set_slba(s, slba);
        nvme::cmd::rw::set_num_blocks(s, blocks);
        return s;
    }

    Outcome identify(std::uint8_t cns, std::uint32_t nsid, Bytes& out, std::uint16_t cntid = 0,
                     std::uint8_t csi = 0)
    {
        out.assign(4096, std::byte{0xee});
        auto s = sqe(nvme::AdminOpcode::identify, nsid);
        nvme::cmd::identify::Cns::set(s, cns);
        nvme::cmd::identify::Cntid::set(s, cntid);
        nvme::cmd::identify::Csi::set(s, csi);
        return admin(s, out);
    }
    nvme::IdentifyController identify_controller()
    {
        Bytes b;
        EXPECT_OK(identify(0x01, 0, b));
        nvme::IdentifyController id;
        std::memcpy(&id, b.data(), sizeof id);
        return id;
    }
    nvme::IdentifyNamespace identify_namespace(std::uint32_t nsid)
    {
        Bytes b;
        EXPECT_OK(identify(0x00, nsid, b));
        nvme::IdentifyNamespace id;
        std::memcpy(&id, b.data(), sizeof id);
        return id;
    }

    Outcome get_log(std::uint8_t lid, std::uint32_t nsid, Bytes& out, std::size_t bytes,
                    std::uint64_t offset = 0, bool rae = false)
    {
        out.assign(bytes, std::byte{0xee});
        auto s = sqe(nvme::AdminOpcode::get_log_page, nsid);
        nvme::cmd::get_log_page::Lid::set(s, lid);
        nvme::cmd::get_log_page::Rae::set(s, rae ? 1 : 0);
        nvme::cmd::get_log_page::set_num_dwords(s, static_cast<std::uint32_t>(bytes / 4));
        nvme::cmd::get_log_page::set_lpo(s, offset);
        return admin(s, out);
    }
    template <class T> T get_log_as(std::uint8_t lid, std::uint32_t nsid = nvme::nsid_all)
    {
        Bytes b;
        EXPECT_OK(get_log(lid, nsid, b, sizeof(T)));
        T v;
        std::memcpy(&v, b.data(), sizeof v);
        return v;
    }

    Outcome write(std::uint32_t nsid, std::uint64_t slba, Bytes data, Bytes metadata = {})
    {
        const auto lbs = ctrl->namespaces().at(nsid).lba_data_size();
        const auto blocks = static_cast<std::uint32_t>(data.size() / lbs);
        return io(rw(nvme::NvmOpcode::write, nsid, slba, blocks), data, metadata);
    }
    Outcome read(std::uint32_t nsid, std::uint64_t slba, std::uint32_t blocks, Bytes& out,
                 Bytes* metadata = nullptr)
    {
        const auto& ns = ctrl->namespaces().at(nsid);
        out.assign(std::size_t{blocks} * ns.lba_data_size(), std::byte{0xee});
        std::span<std::byte> md;
        if (metadata != nullptr) {
            metadata->assign(std::size_t{blocks} * ns.metadata_size(), std::byte{0xee});
            md = *metadata;
        }
        return io(rw(nvme::NvmOpcode::read, nsid, slba, blocks), out, md);
    }

    std::unique_ptr<EmulatedController> ctrl;
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} +
                                                std::chrono::hours(1000);
    std::vector<std::pair<std::uint16_t, Outcome>> async_completions;
    std::uint16_t next_cid = 1;
};

} // namespace nvmecuse::emu::testing
