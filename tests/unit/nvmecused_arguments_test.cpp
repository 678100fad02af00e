// nvmecused's command line (apps/nvmecused/arguments.cpp): --emulate and
// --attach, transport IDs checked up front, nvme connect's options mapped
// onto TcpOptions, and the old options as they were.
#include <gmock/gmock.h>
#include <sched.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "apps/nvmecused/arguments.hpp"
#include "command_line.hpp"

namespace {

using nvmecused::parse_arguments;

/// What parse_arguments returned and printed for a command line given as strings.
struct Printed {
    bool parsed = false;
    int status = 0; ///< the exit status it asks for when it did not parse
    std::string out;
    std::string err;
};
Printed printed(std::vector<std::string> words)
{
    auto p = nvmecuse::test::parse_words(parse_arguments, "nvmecused", std::move(words));
    return {p.result.has_value(), p.result ? 0 : p.result.error(), std::move(p.out),
            std::move(p.err)};
}

/// parse_arguments on a command line given as strings.
auto parse(std::vector<std::string> words)
{
    return nvmecuse::test::parse_words(parse_arguments, "nvmecused", std::move(words)).result;
}

using ::testing::HasSubstr;

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

TEST(NvmecusedArguments, DhchapSecretsAsNvmeConnectNamesThem)
{
    constexpr const char* host = "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";
    constexpr const char* ctrl =
        "DHHC-1:02:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:";
    const auto both = parse({"--attach", target, "--dhchap-secret", host, "-C", ctrl});
    ASSERT_TRUE(both);
    EXPECT_EQ(both->tcp.dhchap_secret, host);
    EXPECT_EQ(both->tcp.dhchap_ctrl_secret, ctrl);
    const auto short_form = parse({"--attach", target, "-S", host});
    ASSERT_TRUE(short_form);
    EXPECT_EQ(short_form->tcp.dhchap_secret, host);
    EXPECT_TRUE(short_form->tcp.dhchap_ctrl_secret.empty());
    // A mistyped secret (its CRC-32 no longer matches) fails at the start.
    std::string typo(host);
    typo[20] = typo[20] == 'Q' ? 'R' : 'Q';
    EXPECT_FALSE(parse({"--attach", target, "--dhchap-secret", typo}));
    EXPECT_FALSE(parse({"--attach", target, "--dhchap-secret", "secret"}));
    // The controller's secret alone is meaningless, as for nvme connect.
    EXPECT_FALSE(parse({"--attach", target, "--dhchap-ctrl-secret", ctrl}));
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

TEST(NvmecusedArguments, ThreadsAreACountOrOnePerCpu)
{
    EXPECT_EQ(parse({"--emulate", "--threads", "3"})->threads, 3u);
    EXPECT_EQ(parse({"--emulate", "--threads", "0"})->threads, 0u);
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(parse({"--emulate", "--threads", "auto"})->threads,
              static_cast<unsigned>(CPU_COUNT(&set)));
    EXPECT_FALSE(parse({"--emulate", "--threads", "257"}));
    EXPECT_FALSE(parse({"--emulate", "--threads", "many"}));
    EXPECT_FALSE(parse({"--emulate", "--threads", "-1"}));
}

TEST(NvmecusedArguments, NothingToServeStartsEmptyOnTheControlSocket)
{
    const auto none = parse({});
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->emulate);
    EXPECT_TRUE(none->attach.empty());
    EXPECT_EQ(none->rpc_socket, "/run/nvmecuse/nvmecused.sock");
    EXPECT_FALSE(none->rpc_socket_explicit);
    const auto other = parse({"--rpc-socket", "/tmp/x.sock"});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->rpc_socket, "/tmp/x.sock");
    EXPECT_TRUE(other->rpc_socket_explicit);
}

TEST(NvmecusedArguments, WithoutControlSocketOneOfEmulateOrAttachIsRequired)
{
    const auto none = parse({"--no-rpc"});
    ASSERT_FALSE(none);
    EXPECT_NE(none.error(), 0);
    EXPECT_FALSE(parse({"--no-rpc", "--dir", "spdk"}));
    EXPECT_FALSE(parse({"--no-rpc", "--rpc-socket", "/tmp/x.sock", "--emulate"}));
    const auto emulated = parse({"--no-rpc", "--emulate"});
    ASSERT_TRUE(emulated);
    EXPECT_TRUE(emulated->rpc_socket.empty());
}

TEST(NvmecusedArguments, ConfigNeedsEmulate)
{
    EXPECT_FALSE(parse({"--attach", target, "--config", "/proc/self/status"}));
}

TEST(NvmecusedArguments, JsonConfigurationAndItsCheck)
{
    const auto json = parse({"--no-rpc", "--json", "/proc/self/status"});
    ASSERT_TRUE(json); // a configuration is something to serve, without a socket too
    EXPECT_EQ(json->json_config, "/proc/self/status");
    EXPECT_FALSE(json->check_json);
    const auto check = parse({"--json", "/proc/self/status", "--check"});
    ASSERT_TRUE(check);
    EXPECT_TRUE(check->check_json);
    EXPECT_FALSE(parse({"--check"}));                         // needs --json
    EXPECT_FALSE(parse({"--json", "/nonexistent/nvmecused.json"})); // an existing file
    // -c is the file too (nvmecused -c FILE, --check -c FILE); nvme
    // connect's -c, the reconnect delay, is spelt out.
    const auto short_name = parse({"--check", "-c", "/proc/self/status"});
    ASSERT_TRUE(short_name);
    EXPECT_EQ(short_name->json_config, "/proc/self/status");
    EXPECT_TRUE(short_name->check_json);
    EXPECT_FALSE(parse({"-c", "7"})); // not a file
    const auto delay = parse({"--reconnect-delay", "7"});
    ASSERT_TRUE(delay);
    EXPECT_EQ(delay->tcp.reconnect_delay, std::chrono::seconds(7));
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
    EXPECT_FALSE(tcp.kato_set); // a persistent discovery controller then takes 30 s
    EXPECT_EQ(tcp.reconnect_delay, std::chrono::seconds(10));
    EXPECT_EQ(tcp.ctrl_loss_tmo, std::chrono::seconds(600));
    EXPECT_EQ(tcp.fast_io_fail_tmo, std::chrono::seconds(-1));
    EXPECT_EQ(tcp.queue_size, 128);
    // One per CPU, as nvme connect (the controller may grant fewer).
    EXPECT_EQ(tcp.io_queues, std::max(1u, std::thread::hardware_concurrency()));
    EXPECT_FALSE(tcp.header_digest);
    EXPECT_FALSE(tcp.data_digest);
    EXPECT_FALSE(tcp.persistent);
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
    // Given on the command line: it wins over the --json file's.
    EXPECT_TRUE(args->node_options_given.mode);
    EXPECT_FALSE(args->node_options_given.directory || args->node_options_given.uid ||
                 args->node_options_given.gid);
    EXPECT_FALSE(parse({"--emulate", "--mode", "0698"}));
    EXPECT_FALSE(parse({"--emulate", "--mode", "rw"}));
    EXPECT_FALSE(parse({"--emulate", "--mode", "01777"})); // permission bits only
    EXPECT_FALSE(parse({"--emulate", "--dir", "/dev/x"}));
    EXPECT_FALSE(parse({"--emulate", "--dir", "a/../b"}));
    EXPECT_TRUE(parse({"--emulate", "--dir", "disks/nvme"}));
}

TEST(NvmecusedArguments, NvmeConnectNamesAndShortOptions)
{
    const auto args = parse({"-a", "127.0.0.1",
                             "-s", "4421",
                             "-n", "nqn.2026-11.io.nvmecuse:t",
                             "-q", "nqn.2014-08.org.nvmexpress:uuid:x",
                             "-I", hostid,
                             "-k", "30",
                             "-i", "2",
                             "-Q", "64",
                             "-g", "-G", "-p",
                             "--reconnect-delay", "3",
                             "-l", "60",
                             "-F", "7"});
    ASSERT_TRUE(args);
    ASSERT_EQ(args->attach.size(), 1u);
    EXPECT_EQ(args->attach[0].traddr, "127.0.0.1");
    EXPECT_EQ(args->attach[0].trsvcid, "4421");
    EXPECT_EQ(args->attach[0].subnqn, "nqn.2026-11.io.nvmecuse:t");
    const auto& tcp = args->tcp;
    EXPECT_EQ(tcp.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:x");
    EXPECT_EQ(tcp.kato, std::chrono::seconds(30));
    EXPECT_EQ(tcp.io_queues, 2);
    EXPECT_EQ(tcp.queue_size, 64);
    EXPECT_TRUE(tcp.header_digest);
    EXPECT_TRUE(tcp.data_digest);
    EXPECT_EQ(tcp.reconnect_delay, std::chrono::seconds(3));
    EXPECT_EQ(tcp.ctrl_loss_tmo, std::chrono::seconds(60));
    EXPECT_EQ(tcp.fast_io_fail_tmo, std::chrono::seconds(7));
    EXPECT_TRUE(tcp.persistent);

    const auto long_names = parse({"--transport", "tcp", "--traddr", "127.0.0.1", "--hostid",
                                   hostid, "--keep-alive-tmo", "12", "--persistent"});
    ASSERT_TRUE(long_names);
    EXPECT_TRUE(long_names->attach[0].is_discovery());
    EXPECT_EQ(long_names->tcp.kato, std::chrono::seconds(12));
    EXPECT_TRUE(long_names->tcp.kato_set);
    EXPECT_TRUE(long_names->tcp.persistent);
    // nvme-cli spells this one with underscores; the dashed spelling stays.
    const auto fast = parse({"--attach", target, "--hostid", hostid, "--fast_io_fail_tmo", "4"});
    ASSERT_TRUE(fast);
    EXPECT_EQ(fast->tcp.fast_io_fail_tmo, std::chrono::seconds(4));
    // The old spelling stays.
    const auto kato = parse({"--attach", target, "--hostid", hostid, "--kato", "9"});
    ASSERT_TRUE(kato);
    EXPECT_EQ(kato->tcp.kato, std::chrono::seconds(9));
}

TEST(NvmecusedArguments, TargetPartsNeedAnAddress)
{
    const auto p = printed({"--emulate", "-n", "nqn.2026-11.io.nvmecuse:t"});
    EXPECT_FALSE(p.parsed);
    EXPECT_EQ(p.err, "nvmecused: --transport, --trsvcid and --nqn need --traddr (-a)\n");
}

TEST(NvmecusedArguments, UsersAndGroupsByNameOrNumber)
{
    const auto named = parse({"--emulate", "--uid", "root", "--gid", "root"});
    ASSERT_TRUE(named);
    EXPECT_EQ(named->uid, 0u);
    EXPECT_EQ(named->gid, 0u);
    const auto numbers = parse({"--emulate", "--uid", "1234", "--gid", "5678"});
    ASSERT_TRUE(numbers);
    EXPECT_EQ(numbers->uid, 1234u);
    EXPECT_EQ(numbers->gid, 5678u);

    auto p = printed({"--emulate", "--uid", "no-such-user-nvmecuse"});
    EXPECT_FALSE(p.parsed);
    EXPECT_EQ(
        p.err,
        "nvmecused: --uid no-such-user-nvmecuse: no such user (give a user name or number)\n");
    p = printed({"--emulate", "--gid", "no-such-group-nvmecuse"});
    EXPECT_FALSE(p.parsed);
    EXPECT_EQ(p.err, "nvmecused: --gid no-such-group-nvmecuse: no such group (give a group name "
                     "or number)\n");
    p = printed({"--emulate", "--uid", "99999999999"});
    EXPECT_EQ(p.err, "nvmecused: --uid 99999999999: out of range\n");
}

TEST(NvmecusedArguments, UnknownLogLevelIsAnError)
{
    EXPECT_TRUE(parse({"--emulate", "--log-level", "debug"}));
    const auto p = printed({"--emulate", "--log-level", "verbose"});
    EXPECT_FALSE(p.parsed);
    EXPECT_NE(p.status, 0);
    EXPECT_THAT(
        p.err, HasSubstr("--log-level: verbose not in {trace,debug,info,warn,error,critical,off}"));
}

TEST(NvmecusedArguments, UnknownIoctlProtocolNamesTheChoices)
{
    const auto p = printed({"--emulate", "--ioctl-protocol", "fast"});
    EXPECT_FALSE(p.parsed);
    EXPECT_THAT(p.err, HasSubstr("--ioctl-protocol: fast not in {auto,restricted,unrestricted}"));
    const auto upper = parse({"--emulate", "--ioctl-protocol", "Restricted"});
    ASSERT_TRUE(upper);
    EXPECT_EQ(upper->ioctl_protocol, nvmecused::Arguments::IoctlProtocol::restricted);
}

using nvmecuse::test::has_control_characters;

TEST(NvmecusedArguments, HelpIsPlainTextWithExamplesAndGroups)
{
    const auto p = printed({"--help"});
    EXPECT_FALSE(p.parsed);
    EXPECT_EQ(p.status, 0);
    EXPECT_FALSE(has_control_characters(p.out)) << p.out;
    EXPECT_THAT(p.out, HasSubstr("Examples:\n  nvmecused --emulate\n"));
    EXPECT_THAT(p.out, HasSubstr("Developer options"));
    EXPECT_THAT(p.out, HasSubstr("-k,--keep-alive-tmo,--kato"));
    EXPECT_THAT(p.out, HasSubstr("auto|restricted|unrestricted"));
}

TEST(NvmecusedArguments, Version)
{
    const auto p = printed({"--version"});
    EXPECT_FALSE(p.parsed);
    EXPECT_EQ(p.status, 0);
    EXPECT_EQ(p.out, std::string("nvmecused ") + NVMECUSE_VERSION + "\n");
}

TEST(NvmecusedArguments, CheckConfigNeedsAConfig)
{
    const auto args = parse({"--emulate", "--config", "/proc/self/status", "--check-config"});
    ASSERT_TRUE(args);
    EXPECT_TRUE(args->check_config);
    EXPECT_FALSE(parse({"--emulate", "--check-config"}));
}

TEST(NvmecusedArguments, LogFormat)
{
    using nvmecused::LogFormat;
    EXPECT_EQ(parse({"--emulate"})->log_format, LogFormat::automatic);
    EXPECT_EQ(parse({"--emulate", "--log-format", "journal"})->log_format, LogFormat::journal);
    EXPECT_EQ(parse({"--emulate", "--log-format", "text"})->log_format, LogFormat::text);
    const auto p = printed({"--emulate", "--log-format", "syslog"});
    EXPECT_FALSE(p.parsed);
    EXPECT_THAT(p.err, HasSubstr("--log-format: syslog not in {auto,journal,text}"));
}

} // namespace
