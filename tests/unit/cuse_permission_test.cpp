// The two permission models: Linux 6.1 (CAP_SYS_ADMIN for every
// passthrough) and Linux 6.2+ nvme_cmd_allowed(), rule by rule, and how the
// daemon picks one for the kernel it runs on.
#include <fcntl.h>

#include <gtest/gtest.h>

#include "nvmecuse/ctrlr/effects.hpp"
#include "nvmecuse/cuse/permission.hpp"

namespace nvmecuse::cuse {
namespace {

namespace fx = nvme::command_effects;
using A = nvme::AdminOpcode;
using N = nvme::NvmOpcode;

nvme::SubmissionQueueEntry command(std::uint8_t opc, std::uint32_t cdw10 = 0)
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = opc;
    sqe.nsid = 1;
    sqe.cdw10 = cdw10;
    return sqe;
}

template <class Op> std::uint8_t op(Op o) { return static_cast<std::uint8_t>(o); }

/// An effects log declaring `effects` for I/O command `opc`, nothing else.
nvme::CommandsSupportedEffectsLog io_log(std::uint8_t opc, std::uint32_t effects)
{
    nvme::CommandsSupportedEffectsLog log{};
    log.iocs[opc] = effects;
    return log;
}

TEST(KernelRules, ChosenByTheKernelRelease)
{
    EXPECT_EQ(kernel_rules_for_release("6.1.0-28-amd64"), KernelRules::linux_6_1);
    EXPECT_EQ(kernel_rules_for_release("5.10.0-33-amd64"), KernelRules::linux_6_1);
    EXPECT_EQ(kernel_rules_for_release("6.2.0"), KernelRules::linux_6_2);
    EXPECT_EQ(kernel_rules_for_release("6.12.38+deb13-amd64"), KernelRules::linux_6_2);
    EXPECT_EQ(kernel_rules_for_release("7.0"), KernelRules::linux_6_2);
    EXPECT_EQ(kernel_rules_for_release("6"), std::nullopt);
    EXPECT_EQ(kernel_rules_for_release("six.twelve"), std::nullopt);
    EXPECT_EQ(kernel_rules_for_release(""), std::nullopt);
}

TEST(KernelRules, ParsedFromTheCommandLineSpelling)
{
    EXPECT_EQ(parse_kernel_rules("6.1"), KernelRules::linux_6_1);
    EXPECT_EQ(parse_kernel_rules("6.2"), KernelRules::linux_6_2);
    EXPECT_EQ(parse_kernel_rules("6.12"), std::nullopt);
    EXPECT_EQ(to_string(KernelRules::linux_6_1), "6.1");
    EXPECT_EQ(to_string(KernelRules::linux_6_2), "6.2");
}

TEST(OpenMode, WriteIsOWronlyOrORdwr)
{
    EXPECT_FALSE(open_for_write(O_RDONLY));
    EXPECT_TRUE(open_for_write(O_WRONLY));
    EXPECT_TRUE(open_for_write(O_RDWR));
    EXPECT_TRUE(open_for_write(O_RDWR | O_CLOEXEC | O_NONBLOCK));
    EXPECT_FALSE(open_for_write(O_RDONLY | O_CLOEXEC));
    EXPECT_FALSE(open_for_write(O_ACCMODE)); // access mode 3: ioctl only, no FMODE_WRITE
}

TEST(UnprivilegedCommand, VendorSpecificAndFabricsNeverAllowed)
{
    // Even with a log that declares them supported and harmless.
    for (const std::uint8_t opc : {std::uint8_t{0x7f}, std::uint8_t{0x80}, std::uint8_t{0x81},
                                   std::uint8_t{0xc0}, std::uint8_t{0xff}}) {
        const auto log = io_log(opc, fx::csupp);
        EXPECT_FALSE(unprivileged_command_allowed(command(opc), true, &log, true)) << int(opc);
    }
    const auto log = io_log(0x7e, fx::csupp);
    EXPECT_TRUE(unprivileged_command_allowed(command(0x7e), true, &log, true));
}

TEST(UnprivilegedCommand, WithoutANamespaceOnlyFiveIdentifyCns)
{
    const auto identify = op(A::identify);
    for (unsigned cns = 0; cns < 256; ++cns) {
        const bool expected = cns == 0x00 || cns == 0x01 || cns == 0x05 || cns == 0x06 || cns == 0x08;
        EXPECT_EQ(unprivileged_command_allowed(command(identify, cns), false, nullptr, false), expected)
            << cns;
    }
    // CNS is the low byte of CDW10 only (CNTID in 31:16 does not matter).
    EXPECT_TRUE(unprivileged_command_allowed(command(identify, 0x00010001), false, nullptr, false));
    // Any other admin command, whatever the log says about it.
    nvme::CommandsSupportedEffectsLog log{};
    log.acs[op(A::get_log_page)] = fx::csupp;
    log.iocs[op(A::get_log_page)] = fx::csupp;
    EXPECT_FALSE(unprivileged_command_allowed(command(op(A::get_log_page)), false, &log, true));
    EXPECT_FALSE(unprivileged_command_allowed(command(op(A::get_features)), false, &log, true));
}

TEST(UnprivilegedCommand, BoundCommandsNeedCsupp)
{
    const auto read = op(N::read);
    EXPECT_FALSE(unprivileged_command_allowed(command(read), true, nullptr, true)); // no log
    const auto none = io_log(read, 0);
    EXPECT_FALSE(unprivileged_command_allowed(command(read), true, &none, true));
    const auto supported = io_log(read, fx::csupp);
    EXPECT_TRUE(unprivileged_command_allowed(command(read), true, &supported, false));
    // The admin half of the log does not count for an I/O command.
    nvme::CommandsSupportedEffectsLog admin_only{};
    admin_only.acs[read] = fx::csupp;
    EXPECT_FALSE(unprivileged_command_allowed(command(read), true, &admin_only, true));
}

TEST(UnprivilegedCommand, OnlyHarmlessEffects)
{
    const auto verify = op(N::verify);
    const std::uint32_t harmless[] = {fx::csupp, fx::csupp | fx::uss, fx::csupp | 0xfff00000u,
                                      fx::csupp | (1u << 20)};
    for (const std::uint32_t e : harmless) {
        const auto log = io_log(verify, e);
        EXPECT_TRUE(unprivileged_command_allowed(command(verify), true, &log, false)) << std::hex << e;
    }
    const std::uint32_t intrusive[] = {fx::ncc, fx::nic, fx::ccc, fx::Cser::make(1), fx::Cser::make(2),
                                       1u << 5, 1u << 13};
    for (const std::uint32_t e : intrusive) {
        const auto log = io_log(verify, fx::csupp | e);
        EXPECT_FALSE(unprivileged_command_allowed(command(verify), true, &log, true)) << std::hex << e;
    }
}

TEST(UnprivilegedCommand, SubmissionAndExecutionBitsIgnoredForIo)
{
    // nvme_command_effects() masks CSE off for I/O commands.
    const auto read = op(N::read);
    const auto log = io_log(read, fx::csupp | fx::Cse::make(fx::cse_single_per_namespace));
    EXPECT_EQ(io_command_effects(&log, read), fx::csupp);
    EXPECT_TRUE(unprivileged_command_allowed(command(read), true, &log, false));
    EXPECT_EQ(io_command_effects(nullptr, read), 0u);
}

TEST(UnprivilegedCommand, WritingDataOrChangingBlocksNeedsAWritableHandle)
{
    // Opcode bit 0 (data to the controller), with or without LBCC.
    const auto write = op(N::write);
    const auto plain = io_log(write, fx::csupp);
    EXPECT_FALSE(unprivileged_command_allowed(command(write), true, &plain, false));
    EXPECT_TRUE(unprivileged_command_allowed(command(write), true, &plain, true));
    // LBCC without a data transfer to the controller (Write Zeroes).
    const auto zeroes = op(N::write_zeroes);
    const auto lbcc = io_log(zeroes, fx::csupp | fx::lbcc);
    EXPECT_FALSE(unprivileged_command_allowed(command(zeroes), true, &lbcc, false));
    EXPECT_TRUE(unprivileged_command_allowed(command(zeroes), true, &lbcc, true));
    // A read marked LBCC (a vendor's odd log) needs it too; one without does not.
    const auto read = op(N::read);
    const auto read_lbcc = io_log(read, fx::csupp | fx::lbcc);
    EXPECT_FALSE(unprivileged_command_allowed(command(read), true, &read_lbcc, false));
    const auto read_plain = io_log(read, fx::csupp);
    EXPECT_TRUE(unprivileged_command_allowed(command(read), true, &read_plain, false));
}

TEST(KnownEffects, LaidOverWhatTheControllerReports)
{
    const nvme::CommandsSupportedEffectsLog none{};
    const auto known = ctrlr::with_known_effects(none);
    // Writes change blocks even when the log is silent, but are not "supported".
    for (const auto opc : {N::write, N::write_zeroes, N::write_uncorrectable})
        EXPECT_EQ(known.iocs[op(opc)], fx::lbcc) << int(op(opc));
    EXPECT_EQ(known.iocs[op(N::read)], 0u);
    EXPECT_EQ(known.acs[op(A::format_nvm)], fx::lbcc | fx::ncc | fx::Cse::mask);
    EXPECT_EQ(known.acs[op(A::sanitize)], fx::lbcc | fx::Cse::mask);
    // So without a log an unprivileged write is refused for want of CSUPP.
    EXPECT_FALSE(unprivileged_command_allowed(command(op(N::write)), true, &known, true));

    nvme::CommandsSupportedEffectsLog reported{};
    reported.iocs[op(N::write)] = fx::csupp;
    reported.acs[op(A::security_receive)] = fx::csupp | fx::Cse::make(fx::cse_single_per_controller);
    const auto merged = ctrlr::with_known_effects(reported);
    EXPECT_EQ(merged.iocs[op(N::write)], fx::csupp | fx::lbcc);
    EXPECT_EQ(merged.acs[op(A::security_receive)], fx::csupp);
    EXPECT_TRUE(unprivileged_command_allowed(command(op(N::write)), true, &merged, true));
    EXPECT_FALSE(unprivileged_command_allowed(command(op(N::write)), true, &merged, false));
}

} // namespace
} // namespace nvmecuse::cuse
