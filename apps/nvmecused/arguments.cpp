// nvmecused's command line: CLI11 options, then the checks CLI11 cannot do
// (octal modes, user and group names, transport IDs, host IDs).
#include "arguments.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "nvmecuse/service/node_settings.hpp"

namespace nvmecused {

namespace {

/// --threads when not given.
constexpr const char* default_threads = "0";

using nvmecuse::transport::parse_host_id;
using nvmecuse::transport::parse_transport_id;

/// Connection options, named and defaulted as the kernel's `nvme connect`
/// (drivers/nvme/host/fabrics.c) has them; in seconds where it uses seconds.
struct TcpArguments {
    std::string hostnqn;
    std::string hostid;
    unsigned kato = 5;
    bool kato_set = false; ///< given: a persistent discovery controller uses it too
    int reconnect_delay = 10;
    int ctrl_loss_tmo = 600;
    int fast_io_fail_tmo = -1;
    /// As the kernel: one I/O queue per online CPU (the controller may grant fewer).
    unsigned nr_io_queues = std::max(1u, std::thread::hardware_concurrency());
    unsigned queue_size = 128;
    bool hdr_digest = false;
    bool data_digest = false;
    bool persistent = false;
    std::string dhchap_secret;
    std::string dhchap_ctrl_secret;
};

/// nvme connect's target options (-t -a -s -n): one more target, as --attach
/// would name it.
struct TargetArguments {
    std::string transport;
    std::string traddr;
    std::string trsvcid;
    std::string nqn;
};

void add_tcp_options(CLI::App& app, TcpArguments& tcp, TargetArguments& target)
{
    // Names and short options as `nvme connect` has them (nvme-cli fabrics.c).
    const char* group = "NVMe/TCP connection (nvme connect's options)";
    app.add_option("-t,--transport", target.transport, "with --traddr: transport type (tcp)")
        ->group(group);
    app.add_option("-a,--traddr", target.traddr,
                   "one more target, as --attach 'trtype:tcp traddr:ADDR ...' would name it")
        ->group(group);
    app.add_option("-s,--trsvcid", target.trsvcid,
                   "with --traddr: port (default 4420, 8009 for discovery)")
        ->group(group);
    app.add_option("-n,--nqn", target.nqn,
                   "with --traddr: subsystem NQN (default: every one the discovery controller "
                   "lists)")
        ->group(group);
    app.add_option("-q,--hostnqn", tcp.hostnqn,
                   "host NQN; default: /etc/nvme/hostnqn as nvme-cli reads it, else derived "
                   "from the host ID")
        ->group(group);
    app.add_option("-I,--hostid", tcp.hostid,
                   "host identifier (UUID); default: /etc/nvme/hostid, else generated")
        ->group(group);
    app.add_option("-k,--keep-alive-tmo,--kato", tcp.kato,
                   "Keep Alive Timeout in seconds (a persistent discovery controller's "
                   "default: 30, as nvme connect-all --persistent)")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str()
        ->each([&tcp](const std::string&) { tcp.kato_set = true; })
        ->group(group);
    app.add_option("-i,--nr-io-queues", tcp.nr_io_queues,
                   "I/O queues per controller; default: the number of CPUs, as nvme connect")
        ->check(CLI::Range(1u, 65535u))
        ->group(group);
    app.add_option("-Q,--queue-size", tcp.queue_size, "entries per I/O queue")
        ->check(CLI::Range(16u, 1024u))
        ->capture_default_str()
        ->group(group);
    app.add_flag("-g,--hdr-digest", tcp.hdr_digest, "ask for PDU header digests (CRC32C)")
        ->group(group);
    app.add_flag("-G,--data-digest", tcp.data_digest, "ask for PDU data digests (CRC32C)")
        ->group(group);
    app.add_flag("-p,--persistent", tcp.persistent,
                 "a discovery controller stays connected (Keep Alive, reconnects) and its "
                 "Discovery Log Page Change events are followed: subsystems that appear are "
                 "attached, those that leave detached (nvme connect-all --persistent)")
        ->group(group);
    app.add_option("-S,--dhchap-secret", tcp.dhchap_secret,
                   "in-band authentication (DH-HMAC-CHAP): the host's secret, "
                   "'DHHC-1:<hh>:<base64>:' as nvme gen-dhchap-key writes it; used when the "
                   "controller asks for authentication")
        ->group(group);
    app.add_option("-C,--dhchap-ctrl-secret", tcp.dhchap_ctrl_secret,
                   "with --dhchap-secret: the controller's secret; the controller must then "
                   "authenticate itself too (bidirectional)")
        ->group(group);
    // Long only: -c is the configuration file (below), as for most daemons;
    // nvme connect's short -c is this option.
    app.add_option("--reconnect-delay", tcp.reconnect_delay,
                   "seconds between reconnect attempts after a connection is lost (the first "
                   "one this long after the loss)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str()
        ->group(group);
    app.add_option("-l,--ctrl-loss-tmo", tcp.ctrl_loss_tmo,
                   "seconds of reconnecting before the controller gives up (commands then "
                   "fail; its nodes stay, a reset retries); negative: reconnect forever. A "
                   "target that does not answer at start is retried as long; 0: it fails the "
                   "start")
        ->capture_default_str()
        ->group(group);
    app.add_option("-F,--fast_io_fail_tmo,--fast-io-fail-tmo", tcp.fast_io_fail_tmo,
                   "accepted as nvme connect has it; like the kernel's, it concerns block I/O "
                   "only: passthrough, all that the nodes carry, fails at once while "
                   "reconnecting")
        ->check(CLI::Range(-1, 3600))
        ->capture_default_str()
        ->group(group);
}

/// The transport ID text of -t/-a/-s/-n; empty when no -a was given.
std::expected<std::string, std::string> target_text(const TargetArguments& target)
{
    if (target.traddr.empty()) {
        if (!target.transport.empty() || !target.trsvcid.empty() || !target.nqn.empty())
            return std::unexpected("--transport, --trsvcid and --nqn need --traddr (-a)");
        return std::string();
    }
    std::string text = "trtype:" + (target.transport.empty() ? "tcp" : target.transport) +
                       " traddr:" + target.traddr;
    if (!target.trsvcid.empty()) text += " trsvcid:" + target.trsvcid;
    if (!target.nqn.empty()) text += " subnqn:" + target.nqn;
    return text;
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
    out.kato_set = tcp.kato_set;
    out.reconnect_delay = std::chrono::seconds(tcp.reconnect_delay);
    out.ctrl_loss_tmo = std::chrono::seconds(tcp.ctrl_loss_tmo);
    out.fast_io_fail_tmo = std::chrono::seconds(tcp.fast_io_fail_tmo);
    out.header_digest = tcp.hdr_digest;
    out.data_digest = tcp.data_digest;
    out.persistent = tcp.persistent;
    for (const auto& [option, text] : {std::pair{"--dhchap-secret", &tcp.dhchap_secret},
                                       std::pair{"--dhchap-ctrl-secret", &tcp.dhchap_ctrl_secret}})
        if (auto ok = text->empty() ? std::expected<void, std::string>{}
                                    : nvmecuse::transport::tcp::check_dhchap_secret(*text);
            !ok)
            return std::unexpected(fmt::format("{}: {}", option, ok.error()));
    if (!tcp.dhchap_ctrl_secret.empty() && tcp.dhchap_secret.empty())
        return std::unexpected("--dhchap-ctrl-secret needs --dhchap-secret");
    out.dhchap_secret = tcp.dhchap_secret;
    out.dhchap_ctrl_secret = tcp.dhchap_ctrl_secret;
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

unsigned usable_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return static_cast<unsigned>(std::max(CPU_COUNT(&set), 1));
}

std::expected<Arguments, int> parse_arguments(int argc, char** argv)
{
    Arguments args;
    std::vector<std::string> attach;
    std::string mode = "0600";
    std::string uid = "0";
    std::string gid = "0";
    std::string protocol = "auto";
    std::string threads = default_threads;
    std::string kernel_rules;
    TcpArguments tcp;
    TargetArguments target;

    CLI::App app{"nvmecused: NVMe controllers as CUSE devices speaking the Linux NVMe ioctl ABI. "
                 "Runs as root; the devices are /dev/<dir>/nvme<N> and /dev/<dir>/nvme<N>n<M>."};
    app.set_version_flag("--version", std::string("nvmecused ") + NVMECUSE_VERSION);
    app.footer(R"(Examples:
  nvmecused --emulate
  nvmecused --emulate --config /usr/local/share/doc/nvmecuse/examples/emulated-controller.json
  nvmecused --attach 'trtype:tcp traddr:192.168.1.7 subnqn:nqn.2026-11.io.example:disk'
  nvmecused -t tcp -a 192.168.1.7 -s 4420 -n nqn.2026-11.io.example:disk -k 15
  nvmecused --attach 'trtype:pcie traddr:0000:00:04.0'
  nvmecused        (no controller yet: attach them with nvmecusectl on its socket)
  nvmecused --json /etc/nvmecuse/nvmecused.json   (the controllers nvmecusectl save-config saved)
Then, as root: nvme id-ctrl /dev/nvmecuse/nvme0; smartctl -d nvme -a /dev/nvmecuse/nvme0)");
    auto* emulate =
        app.add_flag("--emulate", args.emulate, "serve the built-in emulated NVMe controller");
    auto* config = app.add_option("--config", args.config_path,
                                  "JSON configuration of the emulated controller "
                                  "(docs/configuration.md)")
                       ->check(CLI::ExistingFile)
                       ->needs(emulate);
    app.add_flag("--check-config", args.check_config,
                 "check the --config file as the daemon would, say what is wrong or OK, and exit")
        ->needs(config);
    // -c, or SPDK's long name for its configuration file.
    auto* json_config =
        app.add_option("-c,--json", args.json_config,
                       "attach the controllers of this configuration file at start (what "
                       "`nvmecusectl save-config` writes)")
            ->check(CLI::ExistingFile);
    app.add_flag("--check", args.check_json,
                 "check the -c/--json file, say what is wrong (its JSON path) or OK, and exit")
        ->needs(json_config);
    app.add_option("--attach", attach,
                   "serve the controller this transport ID names, e.g. 'trtype:tcp "
                   "traddr:127.0.0.1 trsvcid:4420 subnqn:NQN' or 'trtype:pcie traddr:BDF'; "
                   "without subnqn (or with the discovery NQN): every NVM subsystem its "
                   "discovery controller lists. Repeatable")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    auto* dir_option =
        app.add_option("--dir", args.directory,
                       "device directory under /dev ('spdk' for SPDK paths); over the --json file's")
            ->capture_default_str();
    auto* mode_option =
        app.add_option("--mode", mode, "permissions of the device nodes (octal); over the --json file's")
            ->capture_default_str();
    auto* uid_option =
        app.add_option("--uid", uid, "owner of the device nodes (user name or number); over the --json file's")
            ->capture_default_str();
    auto* gid_option =
        app.add_option("--gid", gid, "group of the device nodes (group name or number); over the --json file's")
            ->capture_default_str();
    app.add_option("--log-level", args.log_level, "what to log")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    std::string log_format = "auto";
    app.add_option("--log-format", log_format,
                   "journal: each line starts with its syslog priority (<3>) for journald, no "
                   "timestamp; text: timestamps; auto: journal when stderr is the journal")
        ->check(CLI::IsMember({"auto", "journal", "text"}))
        ->option_text("auto|journal|text (auto)");

    app.add_option("--kernel-rules", kernel_rules,
                   "whose passthrough permissions the nodes enforce. 6.1: CAP_SYS_ADMIN for "
                   "every passthrough; 6.2: also the commands Linux 6.2 and later allow any "
                   "user with access to the node (nvme_cmd_allowed). Default: the running "
                   "kernel's")
        ->check(CLI::IsMember({"6.1", "6.2"}))
        ->option_text("6.1|6.2 (the running kernel's)");

    app.add_option("--threads", threads,
                   "serving threads: each reads requests from every node and has an I/O queue "
                   "pair of its own on each controller that allows one; auto: one per CPU the "
                   "daemon may run on; 0 serves each node on its controller's thread (see "
                   "--cuse-threads)")
        ->check(CLI::IsMember({"auto"}) | CLI::Range(0u, 256u))
        ->option_text(fmt::format("auto|0..256 ({})", default_threads));

    const char* developer = "Developer options (measurements and testing)";
    app.add_option("--lock-dir", args.lock_directory, "root-only directory of the index claims")
        ->capture_default_str()
        ->group(developer);
    app.add_flag("--retry-only", args.retry_only,
                 "never use process_vm_readv/writev: the CUSE retry protocol only (for "
                 "measurements against the reference design)")
        ->group(developer);
    app.add_option("--ioctl-protocol", protocol,
                   "restricted: the kernel copies each ioctl's argument struct in with the "
                   "request (one system call less per ioctl) and there is no retry protocol to "
                   "fall back on; auto chooses it when process_vm_readv reaches every caller "
                   "(root, initial user namespace)")
        ->check(CLI::IsMember({"auto", "restricted", "unrestricted"}, CLI::ignore_case))
        ->option_text("auto|restricted|unrestricted (auto)")
        ->group(developer);
    app.add_option("--cuse-threads", args.cuse_threads,
                   "with --threads 0: reader threads per device node; 0 serves every node on "
                   "the controller's owner thread (no hand-off between threads per ioctl)")
        ->capture_default_str()
        ->group(developer);
    app.add_option("--poll-us", args.poll_us,
                   "microseconds a serving thread or a controller's owner thread keeps polling "
                   "for work before it "
                   "sleeps (a request that comes within the window costs no wake-up)")
        ->check(CLI::Range(0u, 1'000'000u))
        ->capture_default_str()
        ->group(developer);
    auto* rpc_socket = app.add_option("--rpc-socket", args.rpc_socket,
                                      "JSON-RPC control socket (nvmecusectl, SPDK's rpc.py -s)")
                           ->capture_default_str();
    bool no_rpc = false;
    app.add_flag("--no-rpc", no_rpc, "serve no control socket")->excludes(rpc_socket);
    add_tcp_options(app, tcp, target);

    using Protocol = Arguments::IoctlProtocol;
    try {
        app.parse(argc, argv);
        static const std::map<std::string, Protocol> protocols{
            {"auto", Protocol::automatic},
            {"restricted", Protocol::restricted},
            {"unrestricted", Protocol::unrestricted}};
        args.rpc_socket_explicit = rpc_socket->count() != 0;
        args.node_options_given = {dir_option->count() != 0, mode_option->count() != 0,
                                   uid_option->count() != 0, gid_option->count() != 0};
        if (no_rpc) args.rpc_socket.clear();
        if (!args.emulate && attach.empty() && target.traddr.empty() && args.rpc_socket.empty() &&
            args.json_config.empty())
            throw CLI::RequiredError("--emulate, --attach, --traddr, --json or a control socket");
        args.ioctl_protocol = protocols.at(CLI::detail::to_lower(protocol));
        args.threads = threads == "auto" ? usable_cpus() : static_cast<unsigned>(std::stoul(threads));
        if (!kernel_rules.empty())
            args.kernel_rules = kernel_rules == "6.1" ? nvmecuse::cuse::KernelRules::linux_6_1
                                                      : nvmecuse::cuse::KernelRules::linux_6_2;
        args.log_format = log_format == "journal" ? LogFormat::journal
                          : log_format == "text"  ? LogFormat::text
                                                  : LogFormat::automatic;
        if (args.retry_only && args.ioctl_protocol == Protocol::restricted)
            throw CLI::ValidationError("--retry-only", "needs unrestricted ioctls");
    } catch (const CLI::ParseError& e) {
        return std::unexpected(app.exit(e));
    }

    auto octal = nvmecuse::service::parse_node_mode(mode);
    if (!octal) return std::unexpected(fail("--mode: " + octal.error()));
    args.mode = *octal;
    if (auto dir = nvmecuse::service::check_node_directory(args.directory); !dir)
        return std::unexpected(fail("--dir: " + dir.error()));
    auto user = nvmecuse::service::resolve_owner("--uid", uid, false);
    if (!user) return std::unexpected(fail(user.error()));
    args.uid = *user;
    auto group = nvmecuse::service::resolve_owner("--gid", gid, true);
    if (!group) return std::unexpected(fail(group.error()));
    args.gid = *group;

    auto extra = target_text(target);
    if (!extra) return std::unexpected(fail(extra.error()));
    if (!extra->empty()) attach.push_back(*extra);
    for (const auto& text : attach) {
        auto id = parse_transport_id(text);
        if (!id) return std::unexpected(fail("--attach: " + id.error()));
        args.attach.push_back(std::move(*id));
    }
    // The defaults of every attach, from the command line or the socket.
    auto options = tcp_options(tcp);
    if (!options) return std::unexpected(fail(options.error()));
    args.tcp = std::move(*options);
    return args;
}

nvmecuse::service::ServeOptions serve_options(const Arguments& args)
{
    nvmecuse::service::ServeOptions out;
    out.directory = args.directory;
    out.lock_directory = args.lock_directory;
    out.permissions.mode = args.mode;
    out.permissions.uid = args.uid;
    out.permissions.gid = args.gid;
    out.kernel_rules = args.kernel_rules;
    out.retry_only = args.retry_only;
    out.ioctl_protocol = args.ioctl_protocol;
    out.threads = args.threads;
    out.cuse_threads = args.cuse_threads;
    out.poll_us = args.poll_us;
    return out;
}

} // namespace nvmecused
