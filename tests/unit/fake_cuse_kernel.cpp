#include "fake_cuse_kernel.hpp"

#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace nvmecuse::testing {
namespace {

/// fs/fuse: FUSE_IOCTL_MAX_IOV and CUSE's max_pages (32) in bytes.
constexpr std::size_t max_iov = 256;
constexpr std::size_t max_bytes_per_direction = 32 * 4096;

template <class T> T load(const std::byte* p)
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

/// copy_from_user / copy_to_user on this process's memory: a bad pointer
/// is EFAULT, never a crash.
bool gather(const std::vector<iovec>& remote, std::vector<std::byte>& out)
{
    std::size_t total = 0;
    for (const auto& r : remote)
        total += r.iov_len;
    out.resize(total);
    if (total == 0) return true;
    iovec local{out.data(), total};
    const ssize_t n = ::process_vm_readv(::getpid(), &local, 1, remote.data(), remote.size(), 0);
    return n == static_cast<ssize_t>(total);
}

bool scatter(const std::vector<iovec>& remote, const std::byte* data, std::size_t size)
{
    if (size == 0) return true;
    std::vector<iovec> targets;
    std::size_t left = size;
    for (const auto& r : remote) {
        if (left == 0) break;
        const std::size_t n = std::min(left, r.iov_len);
        targets.push_back({r.iov_base, n});
        left -= n;
    }
    iovec local{const_cast<std::byte*>(data), size}; // NOLINT: only read
    const ssize_t n = ::process_vm_writev(::getpid(), &local, 1, targets.data(), targets.size(), 0);
    return n == static_cast<ssize_t>(size);
}

} // namespace

FakeCuseKernel::FakeCuseKernel(int fd) : fd_(fd)
{
    receiver_ = std::thread([this] { receiver(); });
}

FakeCuseKernel::~FakeCuseKernel()
{
    ::shutdown(fd_, SHUT_RDWR);
    receiver_.join();
    ::close(fd_);
}

std::uint64_t FakeCuseKernel::next_unique()
{
    std::lock_guard lock(mutex_);
    unique_ += 2; // bit 0 is FUSE_INT_REQ_BIT
    return unique_;
}

bool FakeCuseKernel::send(std::uint32_t opcode, std::uint64_t unique, pid_t pid, const void* arg,
                          std::size_t arg_size, const void* extra, std::size_t extra_size, uid_t uid)
{
    fuse_in_header h{};
    h.len = static_cast<std::uint32_t>(sizeof h + arg_size + extra_size);
    h.opcode = opcode;
    h.unique = unique;
    h.nodeid = 1;
    h.uid = uid;
    h.gid = ::getgid();
    h.pid = static_cast<std::uint32_t>(pid);
    iovec iov[3] = {
        {&h, sizeof h}, {const_cast<void*>(arg), arg_size}, {const_cast<void*>(extra), extra_size}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = extra_size != 0 ? 3 : 2;
    ssize_t n;
    do {
        n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(h.len);
}

std::expected<FakeCuseKernel::Reply, int> FakeCuseKernel::wait_reply(std::uint64_t unique)
{
    std::unique_lock lock(mutex_);
    const bool got = cv_.wait_for(lock, std::chrono::milliseconds(reply_timeout_ms),
                                  [&] { return replies_.contains(unique) || closed_; });
    auto it = replies_.find(unique);
    if (it == replies_.end()) return std::unexpected(got ? ENOTCONN : ETIMEDOUT);
    Reply r = std::move(it->second);
    replies_.erase(it);
    return r;
}

void FakeCuseKernel::receiver()
{
    std::vector<std::byte> buf((1u << 20) + 8192);
    for (;;) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < static_cast<ssize_t>(sizeof(fuse_out_header))) break; // EOF, shutdown or garbage
        const auto h = load<fuse_out_header>(buf.data());
        Reply r;
        r.error = -h.error;
        r.payload.assign(buf.begin() + sizeof h, buf.begin() + std::min<ssize_t>(n, h.len));
        std::lock_guard lock(mutex_);
        // Answers to interrupts (EAGAIN) have odd uniques nobody waits for.
        if ((h.unique & 1) == 0) replies_[h.unique] = std::move(r);
        cv_.notify_all();
    }
    std::lock_guard lock(mutex_);
    closed_ = true;
    cv_.notify_all();
}

std::expected<FakeCuseKernel::InitReply, int> FakeCuseKernel::init()
{
    cuse_init_in in{};
    in.major = FUSE_KERNEL_VERSION;
    in.minor = FUSE_KERNEL_MINOR_VERSION;
    in.flags = CUSE_UNRESTRICTED_IOCTL;
    const auto unique = next_unique();
    if (!send(CUSE_INIT, unique, ::gettid(), &in, sizeof in)) return std::unexpected(EIO);
    auto reply = wait_reply(unique);
    if (!reply) return std::unexpected(reply.error());
    if (reply->error != 0) return std::unexpected(reply->error);
    if (reply->payload.size() < sizeof(cuse_init_out)) return std::unexpected(EIO);
    const auto out = load<cuse_init_out>(reply->payload.data());
    InitReply r{out.major, out.minor, out.flags, out.max_read, {}};
    {
        std::lock_guard lock(mutex_);
        restricted_ = (out.flags & CUSE_UNRESTRICTED_IOCTL) == 0;
    }
    // dev_info: NUL-separated KEY=VALUE strings.
    std::string info(reinterpret_cast<const char*>(reply->payload.data()) + sizeof out,
                     reply->payload.size() - sizeof out);
    for (std::size_t pos = 0; pos < info.size();) {
        const std::size_t end = std::min(info.find('\0', pos), info.size());
        const std::string entry = info.substr(pos, end - pos);
        if (entry.starts_with("DEVNAME=")) r.devname = entry.substr(8);
        pos = end + 1;
    }
    return r;
}

std::expected<std::uint64_t, int> FakeCuseKernel::open(std::uint32_t flags)
{
    fuse_open_in in{};
    in.flags = flags;
    const auto unique = next_unique();
    if (!send(FUSE_OPEN, unique, ::gettid(), &in, sizeof in)) return std::unexpected(EIO);
    auto reply = wait_reply(unique);
    if (!reply) return std::unexpected(reply.error());
    if (reply->error != 0) return std::unexpected(reply->error);
    if (reply->payload.size() < sizeof(fuse_open_out)) return std::unexpected(EIO);
    return load<fuse_open_out>(reply->payload.data()).fh;
}

int FakeCuseKernel::release(std::uint64_t fh)
{
    fuse_release_in in{};
    in.fh = fh;
    const auto unique = next_unique();
    if (!send(FUSE_RELEASE, unique, ::gettid(), &in, sizeof in)) return EIO;
    auto reply = wait_reply(unique);
    return reply ? reply->error : reply.error();
}

int FakeCuseKernel::read(std::uint64_t fh, std::uint32_t size)
{
    fuse_read_in in{};
    in.fh = fh;
    in.size = size;
    const auto unique = next_unique();
    if (!send(FUSE_READ, unique, ::gettid(), &in, sizeof in)) return EIO;
    auto reply = wait_reply(unique);
    return reply ? reply->error : reply.error();
}

int FakeCuseKernel::write(std::uint64_t fh, std::uint32_t size)
{
    fuse_write_in in{};
    in.fh = fh;
    in.size = size;
    const std::vector<std::byte> data(size);
    const auto unique = next_unique();
    if (!send(FUSE_WRITE, unique, ::gettid(), &in, sizeof in, data.data(), data.size())) return EIO;
    auto reply = wait_reply(unique);
    return reply ? reply->error : reply.error();
}

void FakeCuseKernel::interrupt(std::uint64_t unique)
{
    fuse_interrupt_in in{};
    in.unique = unique;
    send(FUSE_INTERRUPT, unique | 1u /* FUSE_INT_REQ_BIT */, ::gettid(), &in, sizeof in);
}

FakeCuseKernel::IoctlResult FakeCuseKernel::ioctl(std::uint64_t fh, unsigned int cmd, void* arg,
                                                  const IoctlOptions& options)
{
    IoctlResult result;
    const pid_t pid = options.pid != 0 ? options.pid : ::gettid();
    std::vector<iovec> in_iovs;
    std::vector<iovec> out_iovs;
    auto fail = [&](int e) {
        result.ret = -1;
        result.error = e;
        return result;
    };
    const bool restricted = [&] {
        std::lock_guard lock(mutex_);
        return restricted_;
    }();
    if (restricted) {
        // fuse_do_ioctl: the argument as the number encodes it, both ways.
        const iovec encoded{arg, _IOC_SIZE(cmd)};
        if ((_IOC_DIR(cmd) & _IOC_WRITE) != 0) in_iovs.push_back(encoded);
        if ((_IOC_DIR(cmd) & _IOC_READ) != 0) out_iovs.push_back(encoded);
    }
    for (;;) {
        std::vector<std::byte> in_data;
        if (!gather(in_iovs, in_data)) return fail(EFAULT);
        std::size_t out_size = 0;
        for (const auto& o : out_iovs)
            out_size += o.iov_len;

        fuse_ioctl_in in{};
        in.fh = fh;
        in.flags = (restricted ? 0u : unsigned{FUSE_IOCTL_UNRESTRICTED}) | options.flags;
        in.cmd = cmd;
        in.arg = reinterpret_cast<std::uintptr_t>(arg);
        in.in_size = static_cast<std::uint32_t>(in_data.size());
        in.out_size = static_cast<std::uint32_t>(out_size);
        const auto unique = next_unique();
        if (options.interrupt_first) interrupt(unique);
        const uid_t uid = options.uid != static_cast<uid_t>(-1) ? options.uid : ::getuid();
        if (!send(FUSE_IOCTL, unique, pid, &in, sizeof in, in_data.data(), in_data.size(), uid))
            return fail(EIO);
        ++result.requests;
        if (options.on_sent) options.on_sent(unique);
        auto reply = wait_reply(unique);
        if (!reply) return fail(reply.error());
        if (reply->error != 0) return fail(reply->error);
        if (reply->payload.size() < sizeof(fuse_ioctl_out)) return fail(EIO);
        const auto out = load<fuse_ioctl_out>(reply->payload.data());
        const std::byte* rest = reply->payload.data() + sizeof out;
        const std::size_t rest_size = reply->payload.size() - sizeof out;

        if ((out.flags & FUSE_IOCTL_RETRY) != 0) {
            if (restricted) return fail(EIO); // RETRY is not allowed then
            // fuse_do_ioctl: verify and fetch the iovecs, then resend.
            if (out.in_iovs > max_iov || out.out_iovs > max_iov ||
                out.in_iovs + out.out_iovs > max_iov)
                return fail(ENOMEM);
            if (rest_size != (out.in_iovs + out.out_iovs) * sizeof(fuse_ioctl_iovec))
                return fail(EIO);
            in_iovs.clear();
            out_iovs.clear();
            std::size_t in_total = 0;
            std::size_t out_total = 0;
            for (std::uint32_t i = 0; i < out.in_iovs + out.out_iovs; ++i) {
                const auto v = load<fuse_ioctl_iovec>(rest + i * sizeof(fuse_ioctl_iovec));
                const iovec iov{reinterpret_cast<void*>(static_cast<std::uintptr_t>(v.base)),
                                static_cast<std::size_t>(v.len)};
                if (i < out.in_iovs) {
                    in_iovs.push_back(iov);
                    in_total += iov.iov_len;
                } else {
                    out_iovs.push_back(iov);
                    out_total += iov.iov_len;
                }
            }
            if (in_total > max_bytes_per_direction || out_total > max_bytes_per_direction)
                return fail(ENOMEM);
            if (result.requests > 16) return fail(EIO); // a daemon that never stops asking
            continue;
        }
        if (rest_size > out_size) return fail(EIO);
        if (!scatter(out_iovs, rest, rest_size)) return fail(EFAULT);
        result.ret = out.result;
        return result;
    }
}

bool FakeCuseKernel::closed() const
{
    std::lock_guard lock(mutex_);
    return closed_;
}

bool FakeCuseKernel::wait_closed(int timeout_ms)
{
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return closed_; });
}

int FakeCuseKernel::ioctl_overrunning_message(std::uint64_t fh, unsigned int cmd,
                                              std::uint32_t claimed, std::size_t sent)
{
    fuse_ioctl_in in{};
    in.fh = fh;
    in.flags = restricted_ ? 0u : unsigned{FUSE_IOCTL_UNRESTRICTED};
    in.cmd = cmd;
    in.in_size = claimed;
    in.out_size = claimed;
    const std::vector<std::byte> data(sent, std::byte{0x5a});
    const auto unique = next_unique();
    if (!send(FUSE_IOCTL, unique, ::gettid(), &in, sizeof in, data.data(), data.size()))
        return EIO;
    auto reply = wait_reply(unique);
    if (!reply) return reply.error();
    return reply->error;
}

} // namespace nvmecuse::testing
