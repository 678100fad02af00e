// nvmecused's command line: CLI11 options, then the checks CLI11 cannot do
// (octal modes, transport IDs, host IDs).
#include "arguments.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>

namespace nvmecused {

namespace {

using nvmecuse::transport::parse_host_id;
using nvmecuse::transport::parse_transport_id;

/// Connection options, named and defaulted as the kernel's `nvme connect`
/// (drivers/nvme/host/fabrics.c) has them; in seconds where it uses seconds.
struct TcpArguments {
    std::string hostnqn;
    std::string hostid;
    unsigned kato = 5;
    int reconnect_delay = 10;
    int ctrl_loss_tmo = 600;
    int fast_io_fail_tmo = -1;
    unsigned nr_io_queues = 1;
    unsigned queue_size = 128;
    bool hdr_digest = false;
    bool data_digest = false;
};

void add_tcp_options(CLI::App& app, TcpArguments& tcp)
{
    const char* group = "NVMe/TCP (--attach)";
    app.add_option("--hostnqn", tcp.hostnqn,
                   "host NQN; default: /etc/nvme/hostnqn as nvme-cli reads it, else derived "
                   "from the host ID")
        ->group(group);
    app.add_option("--hostid", tcp.hostid,
                   "host identifier (UUID); default: /etc/nvme/hostid, else generated")
        ->group(group);
    app.add_option("--kato", tcp.kato, "Keep Alive Timeout in seconds")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str()
        ->group(group);
    app.add_option("--nr-io-queues", tcp.nr_io_queues, "I/O queues per controller")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str()
        ->group(group);
    app.add_option("--queue-size", tcp.queue_size, "entries per I/O queue")
        ->check(CLI::Range(16u, 1024u))
        ->capture_default_str()
        ->group(group);
    app.add_flag("--hdr-digest", tcp.hdr_digest, "ask for PDU header digests (CRC32C)")
        ->group(group);
    app.add_flag("--data-digest", tcp.data_digest, "ask for PDU data digests (CRC32C)")
        ->group(group);
    app.add_option("--reconnect-delay", tcp.reconnect_delay,
                   "seconds between reconnect attempts after a connection is lost (the first "
                   "one this long after the loss)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str()
        ->group(group);
    app.add_option("--ctrl-loss-tmo", tcp.ctrl_loss_tmo,
                   "seconds of reconnecting before the controller gives up (commands then "
                   "fail; its nodes stay, a reset retries); negative: reconnect forever")
        ->capture_default_str()
        ->group(group);
    app.add_option("--fast-io-fail-tmo", tcp.fast_io_fail_tmo,
                   "seconds after a connection loss until commands fail instead of waiting for "
                   "the reconnect (Host Pathing Error); -1: off")
        ->check(CLI::Range(-1, 3600))
        ->capture_default_str()
        ->group(group);
}

/// First line of `path` without trailing blanks; empty when unreadable.
std::string first_line(const char* path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
        line.pop_back();
    return line;
}

/// TcpOptions from the options; errors are messages.
std::expected<nvmecuse::transport::tcp::TcpOptions, std::string> tcp_options(TcpArguments tcp)
{
    if (tcp.hostnqn.empty()) tcp.hostnqn = first_line("/etc/nvme/hostnqn");
    if (tcp.hostid.empty()) tcp.hostid = first_line("/etc/nvme/hostid");
    nvmecuse::transport::tcp::TcpOptions out;
    if (tcp.hostnqn.size() > nvmecuse::transport::max_nqn_length)
        return std::unexpected(fmt::format("--hostnqn is {} bytes long, at most {} are allowed",
                                           tcp.hostnqn.size(),
                                           nvmecuse::transport::max_nqn_length));
    out.hostnqn = tcp.hostnqn;
    if (!tcp.hostid.empty()) {
        auto id = parse_host_id(tcp.hostid);
        if (!id) return std::unexpected(id.error());
        out.hostid = *id;
    }
    out.kato = std::chrono::seconds(tcp.kato);
    out.reconnect_delay = std::chrono::seconds(tcp.reconnect_delay);
    out.ctrl_loss_tmo = std::chrono::seconds(tcp.ctrl_loss_tmo);
    out.fast_io_fail_tmo = std::chrono::seconds(tcp.fast_io_fail_tmo);
    out.header_digest = tcp.hdr_digest;
    out.data_digest = tcp.data_digest;
    out.io_queues = static_cast<std::uint16_t>(tcp.nr_io_queues);
    out.queue_size = static_cast<std::uint16_t>(tcp.queue_size);
    return out;
}

int fail(const std::string& message)
{
    std::fprintf(stderr, "nvmecused: %s\n", message.c_str());
    return 1;
}

} // namespace

std::expected<Arguments, int> parse_arguments(int argc, char** argv)
{
    Arguments args;
    std::vector<std::string> attach;
    std::string mode = "0600";
    TcpArguments tcp;

    CLI::App app{"nvmecused: NVMe controllers as CUSE devices speaking the Linux NVMe ioctl ABI"};
    auto* emulate =
        app.add_flag("--emulate", args.emulate, "serve the built-in emulated NVMe controller");
    app.add_option("--config", args.config_path,
                   "JSON configuration of the emulated controller (model, namespaces, ...)")
        ->check(CLI::ExistingFile)
        ->needs(emulate);
    app.add_option("--attach", attach,
                   "serve the NVMe/TCP controller this transport ID names, e.g. 'trtype:tcp "
                   "traddr:127.0.0.1 trsvcid:4420 subnqn:NQN'; without subnqn (or with the "
                   "discovery NQN): every NVM subsystem its discovery controller lists. "
                   "Repeatable")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--dir", args.directory, "device directory under /dev ('spdk' for SPDK paths)")
        ->capture_default_str();
    app.add_option("--lock-dir", args.lock_directory, "root-only directory of the index claims")
        ->capture_default_str();
    app.add_option("--mode", mode, "permissions of the device nodes (octal)")
        ->capture_default_str();
    app.add_option("--uid", args.uid, "owner of the device nodes")->capture_default_str();
    app.add_option("--gid", args.gid, "group of the device nodes")->capture_default_str();
    using nvmecuse::cuse::KernelRules;
    const std::map<std::string, KernelRules> rules{{"6.1", KernelRules::linux_6_1},
                                                   {"6.2", KernelRules::linux_6_2}};
    app.add_option("--kernel-rules", args.kernel_rules,
                   "whose passthrough permissions the nodes enforce. 6.1: CAP_SYS_ADMIN for "
                   "every passthrough; 6.2: also the commands Linux 6.2 and later allow any "
                   "user with access to the node (nvme_cmd_allowed). Default: the running "
                   "kernel's")
        ->transform(CLI::CheckedTransformer(rules))
        ->option_text("6.1|6.2 (the running kernel's)");
    app.add_flag("--retry-only", args.retry_only,
                 "never use process_vm_readv/writev: the CUSE retry protocol only (for "
                 "measurements against the reference design)");
    using Protocol = Arguments::IoctlProtocol;
    const std::map<std::string, Protocol> protocols{{"auto", Protocol::automatic},
                                                    {"restricted", Protocol::restricted},
                                                    {"unrestricted", Protocol::unrestricted}};
    app.add_option("--ioctl-protocol", args.ioctl_protocol,
                   "auto, restricted or unrestricted. restricted: the kernel copies each "
                   "ioctl's argument struct in with the request (one system call less per "
                   "ioctl) and there is no retry protocol to fall back on; auto chooses it "
                   "when process_vm_readv reaches every caller (root, initial user namespace)")
        ->transform(CLI::CheckedTransformer(protocols, CLI::ignore_case))
        ->option_text("auto|restricted|unrestricted (auto)");
    app.add_option("--cuse-threads", args.cuse_threads,
                   "reader threads per device node; 0 serves every node on the controller's "
                   "owner thread (no hand-off between threads per ioctl)")
        ->capture_default_str();
    app.add_option("--poll-us", args.poll_us,
                   "microseconds a controller's owner thread keeps polling for work before it "
                   "sleeps (a request that comes within the window costs no wake-up)")
        ->check(CLI::Range(0u, 1'000'000u))
        ->capture_default_str();
    app.add_option("--log-level", args.log_level, "trace, debug, info, warn, error")
        ->capture_default_str();
    add_tcp_options(app, tcp);

    try {
        app.parse(argc, argv);
        if (!args.emulate && attach.empty()) throw CLI::RequiredError("--emulate or --attach");
        if (args.retry_only && args.ioctl_protocol == Protocol::restricted)
            throw CLI::ValidationError("--retry-only", "needs unrestricted ioctls");
    } catch (const CLI::ParseError& e) {
        return std::unexpected(app.exit(e));
    }

    try {
        std::size_t used = 0;
        args.mode = static_cast<mode_t>(std::stoul(mode, &used, 8));
        if (used != mode.size()) throw std::invalid_argument(mode);
    } catch (const std::exception&) {
        return std::unexpected(fail(fmt::format("--mode {}: not an octal number", mode)));
    }
    for (const auto& text : attach) {
        auto id = parse_transport_id(text);
        if (!id) return std::unexpected(fail("--attach: " + id.error()));
        args.attach.push_back(std::move(*id));
    }
    if (!attach.empty()) {
        auto options = tcp_options(tcp);
        if (!options) return std::unexpected(fail(options.error()));
        args.tcp = std::move(*options);
    }
    return args;
}

} // namespace nvmecused
