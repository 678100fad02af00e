// The FUSE/CUSE request parsing end to end: raw FUSE messages go through
// libfuse's own lowlevel session as nvmecused runs it - a cuse::Device
// (cuse_lowlevel_new + fuse_session_custom_io) on one end of a
// SOCK_SEQPACKET socketpair, the channel /dev/cuse is in production - in
// front of an emulated controller. This file plays the kernel on the other
// end: it delivers each message of the input, then a barrier request, and
// checks every reply the session writes back. The ioctl pipeline below the
// session has its own target (cuse_ioctl_fuzz.cpp); here the point is what
// reaches it, and what comes back out, through libfuse.
//
// Caller memory: the fast path is off (DeviceOptions::fast_path), so the
// retry protocol carries every buffer in the messages themselves and
// process_vm_* never runs; credentials come from the input, not /proc.
//
// Input: u8 setup (setup::), then records of u8 flags (record::), u16 length
// and that many bytes: one raw FUSE message (fuse_in_header + body), at most
// max_messages of them. A message shorter than fuse_in_header ends the
// input: it ends a reader thread (libfuse's "short read on fuse device").
#include <linux/fuse.h>
#include <linux/sockios.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/device.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse;
using fuzz::InputReader;

namespace setup {
constexpr std::uint8_t namespace_node = 1u << 0;
constexpr std::uint8_t second_namespace = 1u << 1; ///< nvme0n2 (4 KiB + 8 B metadata)
constexpr std::uint8_t sys_admin = 1u << 2;
constexpr std::uint8_t rules_6_2 = 1u << 3;
constexpr std::uint8_t owner_thread = 1u << 4; ///< served by the controller's owner thread
} // namespace setup

namespace record {
constexpr std::uint8_t raw_len = 1u << 0;     ///< keep the header's len (else: the message's size)
constexpr std::uint8_t raw_unique = 1u << 1;  ///< keep the header's unique (else: the next of 2, 4, 6...)
constexpr std::uint8_t raw_in_size = 1u << 2; ///< FUSE_IOCTL: keep in_size (else: the bytes that follow)
/// The next message follows at once, with no barrier between: an INTERRUPT
/// may meet its ioctl in flight, a request the reader is still serving.
constexpr std::uint8_t no_barrier = 1u << 3;
} // namespace record

constexpr std::size_t max_messages = 64;
/// A barrier is a FUSE_READ: answered at once on the reader (EINVAL, or EIO
/// before CUSE_INIT), after every message before it, and it hands one
/// unmatched FUSE_INTERRUPT its EAGAIN (libfuse's check_interrupt()).
constexpr std::uint64_t barrier_bit = 1ull << 63;
constexpr int reply_wait_ms = 5000;
/// fs/fuse/ioctl.c: FUSE_IOCTL_MAX_IOV, and CUSE's max_pages (32) in bytes.
constexpr std::uint32_t kernel_max_iovecs = 256;
constexpr std::uint64_t kernel_max_bytes_per_direction = 32 * 4096;

/// What the kernel remembers of a request it sent, to check the answer.
struct Sent {
    std::uint32_t opcode = 0;
    bool ioctl_known = false; ///< the fuse_ioctl_in arrived whole
    std::uint32_t ioctl_flags = 0;
    std::uint32_t out_size = 0;
};

/// Opcodes that are never answered (FUSE rules); FUSE_INTERRUPT only with
/// an error (EAGAIN: retry later; EIO before CUSE_INIT).
bool answerless(std::uint32_t opcode)
{
    return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
}

/// A kernel sends FUSE_NOTIFY_REPLY only to answer a retrieve notification,
/// which nvmecused never sends; libfuse 3.14 leaks the request of one that
/// answers none (do_notify_reply() neither replies nor frees it). Not
/// delivered: the leak is libfuse's, and no kernel can cause it.
bool no_kernel_sends(std::uint32_t opcode)
{
    return opcode == FUSE_NOTIFY_REPLY;
}

template <class T> T load(const std::uint8_t* p)
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

/// The kernel's end of the channel.
class FakeKernel {
public:
    explicit FakeKernel(int fd) : fd_(fd), reply_(kernel_max_bytes_per_direction * 2) {}
    ~FakeKernel() { ::close(fd_); }
    FakeKernel(const FakeKernel&) = delete;
    FakeKernel& operator=(const FakeKernel&) = delete;

    /// Delivers one message; remembers it as waiting for its answer.
    void deliver(std::span<const std::uint8_t> msg)
    {
        const auto h = load<fuse_in_header>(msg.data());
        Sent s{.opcode = h.opcode};
        if (h.opcode == FUSE_IOCTL && msg.size() >= sizeof h + sizeof(fuse_ioctl_in)) {
            const auto in = load<fuse_ioctl_in>(msg.data() + sizeof h);
            s.ioctl_known = true;
            s.ioctl_flags = in.flags;
            s.out_size = in.out_size;
        }
        waiting_.emplace(h.unique, s);
        put(msg.data(), msg.size());
    }

    /// Sends a barrier and takes replies until it is answered: every
    /// message before it has been processed.
    void barrier()
    {
        const std::uint64_t unique = barrier_bit | ++barriers_;
        struct {
            fuse_in_header h;
            fuse_read_in r;
        } msg{};
        msg.h.len = sizeof msg;
        msg.h.opcode = FUSE_READ;
        msg.h.unique = unique;
        msg.h.nodeid = 1;
        msg.r.size = 4096;
        put(&msg, sizeof msg);
        barrier_answered_ = false;
        while (!barrier_answered_)
            FUZZ_CHECK(take_reply()); // the session went away, or hangs
    }

    /// A message libfuse cannot take (shorter than fuse_in_header): its
    /// reader gives up after reading it. Waits until it was read, so that
    /// closing the daemon's end loses nothing (a socket closed with unread
    /// data resets the connection, which /dev/cuse never does).
    void deliver_last(std::span<const std::uint8_t> msg)
    {
        put(msg.data(), msg.size());
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(reply_wait_ms);
        for (int unread = 1; unread != 0;) {
            FUZZ_CHECK(::ioctl(fd_, SIOCOUTQ, &unread) == 0);
            FUZZ_CHECK(std::chrono::steady_clock::now() < end);
            if (unread != 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

    /// After the session stopped: takes the rest until the channel closes.
    void drain()
    {
        while (take_reply()) {
        }
        FUZZ_CHECK(closed_);
    }

    /// Each request processed was answered (and only once: take_reply()).
    void check_all_answered() const
    {
        for (const auto& [unique, s] : waiting_)
            FUZZ_CHECK(answerless(s.opcode));
    }

private:
    /// One message onto the channel, whole (SOCK_SEQPACKET keeps its bounds).
    void put(const void* msg, std::size_t size)
    {
        ssize_t n = -1;
        do
            n = ::send(fd_, msg, size, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        FUZZ_CHECK(n == static_cast<ssize_t>(size));
    }

    /// One reply, checked; false on EOF or after reply_wait_ms without one.
    bool take_reply()
    {
        // libFuzzer's -timeout alarm (SIGALRM) may interrupt the wait.
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(reply_wait_ms);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
            if (ready > 0) break;
            FUZZ_CHECK(ready == 0 || errno == EINTR);
        }
        ssize_t n = -1;
        do
            n = ::recv(fd_, reply_.data(), reply_.size(), MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        FUZZ_CHECK(n >= 0);
        if (n == 0) {
            closed_ = true;
            return false;
        }
        FUZZ_CHECK(static_cast<std::size_t>(n) <= reply_.size());
        check_reply(std::span(reply_).first(static_cast<std::size_t>(n)));
        return true;
    }

    void check_reply(std::span<const std::uint8_t> msg)
    {
        FUZZ_CHECK(msg.size() >= sizeof(fuse_out_header));
        const auto h = load<fuse_out_header>(msg.data());
        FUZZ_CHECK(h.len == msg.size());
        FUZZ_CHECK(h.error <= 0 && h.error > -4096); // fs/fuse/dev.c: else EINVAL
        const auto body = msg.subspan(sizeof h);
        if (trace_) {
            std::fprintf(stderr, "reply unique %#llx error %d len %u", static_cast<unsigned long long>(h.unique),
                         h.error, h.len);
            if (body.size() >= sizeof(fuse_ioctl_out)) {
                const auto o = load<fuse_ioctl_out>(body.data());
                std::fprintf(stderr, " (ioctl: result %d flags %#x iovs %u+%u)", o.result, o.flags, o.in_iovs,
                             o.out_iovs);
            }
            std::fprintf(stderr, "\n");
        }
        if ((h.unique & barrier_bit) != 0 && h.unique == (barrier_bit | barriers_) && !barrier_answered_) {
            FUZZ_CHECK(h.error == -EINVAL || h.error == -EIO);
            barrier_answered_ = true;
            return;
        }
        // A request delivered and not answered yet; the kernel drops any
        // other reply (ENOENT), and that caller would wait forever.
        // Of requests that share a (fuzzed) unique, one that must be answered.
        const auto [first, last] = waiting_.equal_range(h.unique);
        FUZZ_CHECK(first != last);
        auto it = std::find_if(first, last, [](const auto& w) { return !answerless(w.second.opcode); });
        if (it == last) it = first;
        const Sent s = it->second;
        const bool ambiguous = std::next(first) != last;
        waiting_.erase(it);
        if (s.opcode == FUSE_INTERRUPT) FUZZ_CHECK(h.error != 0 && body.empty());
        if (s.opcode == FUSE_IOCTL && h.error == 0 && s.ioctl_known && !ambiguous)
            check_ioctl_reply(s, body);
    }

    /// fs/fuse/ioctl.c fuse_do_ioctl(): what the kernel accepts.
    static void check_ioctl_reply(const Sent& s, std::span<const std::uint8_t> body)
    {
        FUZZ_CHECK(body.size() >= sizeof(fuse_ioctl_out));
        const auto out = load<fuse_ioctl_out>(body.data());
        const auto rest = body.subspan(sizeof out);
        if ((out.flags & FUSE_IOCTL_RETRY) == 0) {
            FUZZ_CHECK(rest.size() <= s.out_size); // transferred > out_size: EIO
            return;
        }
        // The kernel's CUSE flags every ioctl unrestricted once CUSE_INIT's
        // reply asked for it (cuse_file_ioctl()), as nvmecused's does; a
        // request without the flag comes from no kernel, and a RETRY to it
        // ends as EIO there, like any answer the kernel cannot take.
        if ((s.ioctl_flags & FUSE_IOCTL_UNRESTRICTED) == 0) return;
        FUZZ_CHECK(out.in_iovs <= kernel_max_iovecs && out.out_iovs <= kernel_max_iovecs &&
                   out.in_iovs + out.out_iovs <= kernel_max_iovecs);
        FUZZ_CHECK(rest.size() == std::size_t{out.in_iovs + out.out_iovs} * sizeof(fuse_ioctl_iovec));
        // fuse_verify_ioctl_iov(), each direction on its own: ENOMEM past max_pages.
        const auto total = [&](std::uint32_t first, std::uint32_t count) {
            std::uint64_t sum = 0;
            for (std::uint32_t i = first; i < first + count; ++i) {
                const auto iov = load<fuse_ioctl_iovec>(rest.data() + i * sizeof(fuse_ioctl_iovec));
                FUZZ_CHECK(iov.len <= kernel_max_bytes_per_direction);
                sum += iov.len;
            }
            return sum;
        };
        FUZZ_CHECK(total(0, out.in_iovs) <= kernel_max_bytes_per_direction);
        FUZZ_CHECK(total(out.in_iovs, out.out_iovs) <= kernel_max_bytes_per_direction);
    }

    int fd_;
    std::vector<std::uint8_t> reply_;
    std::multimap<std::uint64_t, Sent> waiting_;
    std::uint64_t barriers_ = 0;
    bool barrier_answered_ = false;
    bool closed_ = false;
    bool trace_ = std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr;
};

std::unique_ptr<ctrlr::Controller> start_controller()
{
    emu::ControllerConfig config;
    emu::NamespaceConfig ns1;
    ns1.nsid = 1;
    ns1.size_bytes = 1u << 20;
    emu::NamespaceConfig ns2 = ns1;
    ns2.nsid = 2;
    ns2.lba_data_size = 4096;
    ns2.metadata_size = 8;
    config.namespaces = {ns1, ns2};
    auto transport = emu::make_transport(config);
    FUZZ_CHECK(transport.has_value());
    ctrlr::Controller::Options options;
    options.name = "fuzz";
    auto controller = ctrlr::Controller::start(std::move(*transport), options);
    FUZZ_CHECK(controller.has_value());
    return std::move(*controller);
}

struct Message {
    std::vector<std::uint8_t> bytes;
    bool barrier_after = true;
};

/// One message of the input, with the fixes its flags ask for.
std::optional<Message> next_message(InputReader& in, std::uint64_t& unique)
{
    if (in.remaining() == 0) return std::nullopt;
    const auto flags = in.take<std::uint8_t>();
    const auto bytes = in.take_bytes(in.take<std::uint16_t>());
    Message m{{bytes.begin(), bytes.end()}, (flags & record::no_barrier) == 0};
    auto& msg = m.bytes;
    if (msg.size() < sizeof(fuse_in_header)) return m;
    fuse_in_header h;
    std::memcpy(&h, msg.data(), sizeof h);
    if ((flags & record::raw_len) == 0) h.len = static_cast<std::uint32_t>(msg.size());
    h.unique = (flags & record::raw_unique) != 0 ? h.unique & ~barrier_bit : (unique += 2);
    std::memcpy(msg.data(), &h, sizeof h);
    if (h.opcode == FUSE_IOCTL && (flags & record::raw_in_size) == 0 &&
        msg.size() >= sizeof h + sizeof(fuse_ioctl_in)) {
        const auto in_size = static_cast<std::uint32_t>(msg.size() - sizeof h - sizeof(fuse_ioctl_in));
        std::memcpy(msg.data() + sizeof h + offsetof(fuse_ioctl_in, in_size), &in_size, sizeof in_size);
    }
    return m;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const bool quiet = [] {
        spdlog::set_level(spdlog::level::off); // "controller ready" per input
        return true;
    }();
    (void)quiet;
    InputReader in(data, size);
    const auto setup_bits = in.take<std::uint8_t>();

    // A controller per input: admin commands (format, namespace management,
    // reset) change it, and no input may see what an earlier one did.
    const auto controller = start_controller();
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    FakeKernel kernel(sv[0]);

    cuse::DeviceOptions options;
    const bool ns_node = (setup_bits & setup::namespace_node) != 0;
    options.kind = ns_node ? cuse::NodeKind::namespace_node : cuse::NodeKind::controller;
    options.nsid = ns_node ? ((setup_bits & setup::second_namespace) != 0 ? 2u : 1u) : 0u;
    options.devname = ns_node ? "fuzz/nvme0n" + std::to_string(options.nsid) : "fuzz/nvme0";
    options.serve_on_owner_thread = (setup_bits & setup::owner_thread) != 0;
    options.fast_path = false; // never process_vm_* into a pid from the input
    options.permissions.apply = false;
    options.kernel_rules = (setup_bits & setup::rules_6_2) != 0 ? cuse::KernelRules::linux_6_2
                                                                 : cuse::KernelRules::linux_6_1;
    const std::uint64_t caps = (setup_bits & setup::sys_admin) != 0 ? 1ull << cuse::cap_sys_admin : 0;
    options.credentials = [caps](pid_t pid) -> std::expected<cuse::CallerCredentials, std::error_code> {
        return cuse::CallerCredentials{pid, caps, true};
    };
    auto device = cuse::Device::start(*controller, std::move(options), sv[1]);
    FUZZ_CHECK(device.has_value());

    std::uint64_t unique = 0;
    bool barrier_owed = false;
    for (std::size_t i = 0; i < max_messages; ++i) {
        auto msg = next_message(in, unique);
        if (!msg) break;
        if (msg->bytes.size() < sizeof(fuse_in_header)) { // libfuse's reader ends here
            if (msg->bytes.empty()) break;
            kernel.deliver_last(msg->bytes); // read after everything before it
            barrier_owed = false;
            break;
        }
        if (no_kernel_sends(load<fuse_in_header>(msg->bytes.data()).opcode)) continue;
        kernel.deliver(msg->bytes);
        barrier_owed = !msg->barrier_after;
        if (msg->barrier_after) kernel.barrier();
    }
    if (barrier_owed) kernel.barrier(); // nothing unread when the session stops

    // Teardown: waiting ioctls are answered (their result, or ENODEV), the
    // channel is closed, and every request processed has had its one answer.
    (*device)->stop();
    kernel.drain();
    kernel.check_all_answered();
    device->reset();
    return 0;
}
