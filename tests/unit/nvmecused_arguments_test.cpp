// nvmecused's command line (apps/nvmecused/arguments.cpp): --emulate and
// --attach, transport IDs checked up front, nvme connect's options mapped
// onto TcpOptions, and the old options as they were.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/nvmecused/arguments.hpp"

namespace {

using nvmecused::parse_arguments;

/// parse_arguments on a command line given as strings.
auto parse(std::vector<std::string> words)
{
    words.insert(words.begin(), "nvmecused");
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    return parse_arguments(static_cast<int>(words.size()), argv.data());
}

constexpr const char* target = "trtype:tcp traddr:127.0.0.1 subnqn:nqn.2026-11.io.nvmecuse:t";
constexpr const char* hostid = "5e1f7c52-8e0b-4bd8-a0a5-0d3e5b7a1c11";

TEST(NvmecusedArguments, EmulateAloneKeepsTheDefaults)
{
    const auto args = parse({"--emulate"});
    ASSERT_TRUE(args);
    EXPECT_TRUE(args->emulate);
    EXPECT_TRUE(args->attach.empty());
    EXPECT_EQ(args->directory, "nvmecuse");
    EXPECT_EQ(args->lock_directory, "/run/nvmecuse");
    EXPECT_EQ(args->mode, 0600u);
    EXPECT_EQ(args->cuse_threads, 0u);
    EXPECT_FALSE(args->retry_only);
    EXPECT_EQ(args->ioctl_protocol, nvmecused::Arguments::IoctlProtocol::automatic);
    EXPECT_EQ(args->poll_us, 300u);
}

TEST(NvmecusedArguments, IoctlProtocol)
{
    using Protocol = nvmecused::Arguments::IoctlProtocol;
    const auto restricted = parse({"--emulate", "--ioctl-protocol", "restricted"});
    ASSERT_TRUE(restricted);
    EXPECT_EQ(restricted->ioctl_protocol, Protocol::restricted);
    const auto unrestricted =
        parse({"--emulate", "--ioctl-protocol", "unrestricted", "--retry-only"});
    ASSERT_TRUE(unrestricted);
    EXPECT_EQ(unrestricted->ioctl_protocol, Protocol::unrestricted);
    EXPECT_FALSE(parse({"--emulate", "--ioctl-protocol", "fast"}));
    // The retry protocol needs unrestricted ioctls.
    EXPECT_FALSE(parse({"--emulate", "--ioctl-protocol", "restricted", "--retry-only"}));
}

TEST(NvmecusedArguments, KernelRules)
{
    using nvmecuse::cuse::KernelRules;
    EXPECT_EQ(parse({"--emulate"})->kernel_rules, std::nullopt); // the running kernel's
    EXPECT_EQ(parse({"--emulate", "--kernel-rules", "6.1"})->kernel_rules, KernelRules::linux_6_1);
    EXPECT_EQ(parse({"--emulate", "--kernel-rules", "6.2"})->kernel_rules, KernelRules::linux_6_2);
    EXPECT_FALSE(parse({"--emulate", "--kernel-rules", "6.12"}));
    EXPECT_FALSE(parse({"--emulate", "--kernel-rules", "6"}));
}

TEST(NvmecusedArguments, PollWindow)
{
    const auto none = parse({"--emulate", "--poll-us", "0"});
    ASSERT_TRUE(none);
    EXPECT_EQ(none->poll_us, 0u);
    EXPECT_FALSE(parse({"--emulate", "--poll-us", "1000001"}));
    EXPECT_FALSE(parse({"--emulate", "--poll-us", "-5"}));
}

TEST(NvmecusedArguments, OneOfEmulateOrAttachIsRequired)
{
    const auto none = parse({});
    ASSERT_FALSE(none);
    EXPECT_NE(none.error(), 0);
    EXPECT_FALSE(parse({"--dir", "spdk"}));
}

TEST(NvmecusedArguments, ConfigNeedsEmulate)
{
    EXPECT_FALSE(parse({"--attach", target, "--config", "/proc/self/status"}));
}

TEST(NvmecusedArguments, AttachIsRepeatableAndParsed)
{
    const auto args = parse({"--attach", target, "--attach", "trtype:tcp traddr:10.0.0.2",
                             "--hostnqn", "nqn.2014-08.org.nvmexpress:uuid:x", "--hostid", hostid});
    ASSERT_TRUE(args);
    EXPECT_FALSE(args->emulate);
    ASSERT_EQ(args->attach.size(), 2u);
    EXPECT_EQ(args->attach[0].trsvcid, "4420");
    EXPECT_EQ(args->attach[0].subnqn, "nqn.2026-11.io.nvmecuse:t");
    EXPECT_TRUE(args->attach[1].is_discovery());
    EXPECT_EQ(args->attach[1].trsvcid, "8009");
}

TEST(NvmecusedArguments, AttachTakesOneWordPerOccurrence)
{
    EXPECT_FALSE(parse({"--attach", target, "trtype:tcp traddr:10.0.0.2"}));
}

TEST(NvmecusedArguments, BothEmulateAndAttach)
{
    const auto args = parse({"--emulate", "--attach", target, "--hostid", hostid});
    ASSERT_TRUE(args);
    EXPECT_TRUE(args->emulate);
    EXPECT_EQ(args->attach.size(), 1u);
}

TEST(NvmecusedArguments, BadTransportIdIsAnError)
{
    EXPECT_FALSE(parse({"--attach", "trtype:tcp traddr:1.2.3.4 bogus:1"}));
    EXPECT_FALSE(parse({"--attach", "trtype:rdma traddr:1.2.3.4"}));
    EXPECT_FALSE(parse({"--attach", "trtype:tcp traddr:1.2.3.4 trsvcid:99999"}));
}

TEST(NvmecusedArguments, ConnectOptionsFillTcpOptions)
{
    const auto args = parse({"--attach",
                             target,
                             "--hostnqn",
                             "nqn.2014-08.org.nvmexpress:uuid:x",
                             "--hostid",
                             hostid,
                             "--kato",
                             "30",
                             "--nr-io-queues",
                             "4",
                             "--queue-size",
                             "64",
                             "--hdr-digest",
                             "--data-digest",
                             "--reconnect-delay",
                             "2",
                             "--ctrl-loss-tmo",
                             "-1",
                             "--fast-io-fail-tmo",
                             "5"});
    ASSERT_TRUE(args);
    const auto& tcp = args->tcp;
    EXPECT_EQ(tcp.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:x");
    EXPECT_EQ(tcp.hostid[0], 0x5e);
    EXPECT_EQ(tcp.hostid[15], 0x11);
    EXPECT_EQ(tcp.kato, std::chrono::seconds(30));
    EXPECT_EQ(tcp.io_queues, 4);
    EXPECT_EQ(tcp.queue_size, 64);
    EXPECT_TRUE(tcp.header_digest);
    EXPECT_TRUE(tcp.data_digest);
    EXPECT_EQ(tcp.reconnect_delay, std::chrono::seconds(2));
    EXPECT_EQ(tcp.ctrl_loss_tmo, std::chrono::seconds(-1));
    EXPECT_EQ(tcp.fast_io_fail_tmo, std::chrono::seconds(5));
}

TEST(NvmecusedArguments, ConnectDefaultsAreTheKernels)
{
    const auto args = parse({"--attach", target, "--hostid", hostid});
    ASSERT_TRUE(args);
    const auto& tcp = args->tcp;
    EXPECT_EQ(tcp.kato, std::chrono::seconds(5));
    EXPECT_EQ(tcp.reconnect_delay, std::chrono::seconds(10));
    EXPECT_EQ(tcp.ctrl_loss_tmo, std::chrono::seconds(600));
    EXPECT_EQ(tcp.fast_io_fail_tmo, std::chrono::seconds(-1));
    EXPECT_EQ(tcp.queue_size, 128);
    EXPECT_EQ(tcp.io_queues, 1);
    EXPECT_FALSE(tcp.header_digest);
    EXPECT_FALSE(tcp.data_digest);
}

TEST(NvmecusedArguments, ConnectOptionRanges)
{
    EXPECT_FALSE(parse({"--attach", target, "--queue-size", "8"}));
    EXPECT_FALSE(parse({"--attach", target, "--queue-size", "2048"}));
    EXPECT_FALSE(parse({"--attach", target, "--nr-io-queues", "0"}));
    EXPECT_FALSE(parse({"--attach", target, "--kato", "0"}));
    EXPECT_FALSE(parse({"--attach", target, "--hostid", "not-a-uuid"}));
    EXPECT_FALSE(parse({"--attach", target, "--hostnqn", std::string(224, 'n')}));
}

TEST(NvmecusedArguments, Mode)
{
    const auto args = parse({"--emulate", "--mode", "0660"});
    ASSERT_TRUE(args);
    EXPECT_EQ(args->mode, 0660u);
    EXPECT_FALSE(parse({"--emulate", "--mode", "0698"}));
    EXPECT_FALSE(parse({"--emulate", "--mode", "rw"}));
}

} // namespace
