#include "session.hpp"

#include "fuse_messages.hpp"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <variant>

namespace nvmecuse::cuse {
namespace {

std::error_code errno_code(int e)
{
    return {e, std::system_category()};
}

Session* session_of(fuse_req_t req)
{
    return static_cast<Session*>(fuse_req_userdata(req));
}

} // namespace

std::expected<std::shared_ptr<Session>, std::error_code> Session::create(Options options, int fd,
                                                                         SessionHandler& handler)
{
    if (fd < 0) return std::unexpected(errno_code(EBADF));
    if (options.reader_threads == 0) options.reader_threads = 1;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        const auto ec = errno_code(errno);
        ::close(fd);
        return std::unexpected(ec);
    }
    const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
        const auto ec = errno_code(errno);
        ::close(fd);
        return std::unexpected(ec);
    }
    std::shared_ptr<Session> s(new Session(std::move(options), fd, wake, handler));

    const std::string devname_arg = "DEVNAME=" + s->options_.devname;
    const char* dev_info[] = {devname_arg.c_str()};
    cuse_info ci{};
    ci.dev_info_argc = 1;
    ci.dev_info_argv = dev_info;
    ci.flags = s->options_.restricted_ioctls ? 0u : unsigned{CUSE_UNRESTRICTED_IOCTL};

    cuse_lowlevel_ops ops{};
    ops.init_done = &Session::op_init_done;
    ops.open = &Session::op_open;
    ops.release = &Session::op_release;
    ops.read = &Session::op_read;
    ops.write = &Session::op_write;
    // FUSE_IOCTL never reaches libfuse once the node is up (process());
    // before CUSE_INIT libfuse refuses every request itself.
    // No poll: libfuse answers ENOSYS and the kernel then reports
    // DEFAULT_POLLMASK, as for the kernel's nvme char devices (no .poll).

    char prog[] = "nvmecused";
    char* argv[] = {prog, nullptr};
    fuse_args args = FUSE_ARGS_INIT(1, argv);
    s->se_ = cuse_lowlevel_new(&args, &ci, &ops, s.get());
    fuse_opt_free_args(&args);
    if (s->se_ == nullptr) {
        ::close(wake);
        s->wake_fd_ = -1;
        return std::unexpected(errno_code(ENOMEM));
    }
    const fuse_custom_io io{&Session::io_writev, &Session::read_message, nullptr, nullptr};
    if (fuse_session_custom_io(s->se_, &io, wake) != 0) {
        ::close(wake); // not adopted by libfuse
        s->wake_fd_ = -1;
        return std::unexpected(errno_code(EINVAL));
    }

    return s;
}

void Session::run()
{
    // Named after the node ("cuse nvme0n1", at most 15 characters) for ps/gdb.
    const auto slash = options_.devname.rfind('/');
    const std::string name =
        ("cuse " + options_.devname.substr(slash == std::string::npos ? 0 : slash + 1))
            .substr(0, 15);
    for (unsigned i = 0; i < options_.reader_threads; ++i) {
        readers_.emplace_back([this] { reader_loop(); });
        ::pthread_setname_np(readers_.back().native_handle(), name.c_str());
    }
}

void Session::run_external()
{
    external_ = true;
}

namespace {
/// serve_ready()'s receive buffer: one per serving thread, shared by the
/// sessions it serves (libfuse sizes every session's buffer alike, and a
/// request's bytes are consumed before the next one is read).
struct ReceiveBuffer {
    fuse_buf buf{};
    ReceiveBuffer() = default;
    ReceiveBuffer(const ReceiveBuffer&) = delete;
    ReceiveBuffer& operator=(const ReceiveBuffer&) = delete;
    ~ReceiveBuffer() { std::free(buf.mem); }
};
} // namespace

std::size_t Session::serve_ready(std::size_t budget)
{
    thread_local ReceiveBuffer receive;
    std::size_t served = 0;
    while (served < budget && !stopping_.load() && fuse_session_exited(se_) == 0) {
        const int res = fuse_session_receive_buf(se_, &receive.buf);
        if (res == -EINTR) continue;
        if (res <= 0) break; // -EAGAIN: nothing waiting
        process(receive.buf, static_cast<std::size_t>(res));
        ++served;
    }
    return served;
}

Session::Session(Options options, int fd, int wake_fd, SessionHandler& handler)
    : options_(std::move(options)), handler_(handler), fd_(fd), wake_fd_(wake_fd)
{
}

Session::~Session()
{
    stop(ENODEV);
    if (se_ != nullptr)
        fuse_session_destroy(se_); // closes wake_fd_
    else if (wake_fd_ >= 0)
        ::close(wake_fd_);
}

void Session::stop(int reply_errno)
{
    std::call_once(stop_once_, [&] {
        stopping_.store(true);
        if (se_ != nullptr) fuse_session_exit(se_);
        if (wake_fd_ >= 0) {
            const std::uint64_t one = 1;
            [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
        }
        for (auto& t : readers_)
            if (t.joinable()) t.join();

        // Commands in flight may still finish (no new ones arrive: the
        // readers are gone); every caller still waiting after the grace
        // period gets an error, never a hang.
        std::vector<std::uint64_t> left;
        {
            std::unique_lock lock(pending_mutex_);
            drained_.wait_for(lock, options_.drain_grace,
                              [&] { return pending_.empty() && claims_ == 0; });
            left.assign(pending_.begin(), pending_.end());
            pending_.clear();
        }
        for (const std::uint64_t unique : left) {
            reply_error(unique, reply_errno);
            counters_.ioctls_answered.fetch_add(1);
        }
        std::unique_lock lock(fd_mutex_);
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    });
}

void Session::track(std::uint64_t unique)
{
    std::lock_guard lock(pending_mutex_);
    pending_.insert(unique);
}

Session::Claim Session::claim(std::uint64_t unique)
{
    std::lock_guard lock(pending_mutex_);
    if (pending_.erase(unique) == 0) return {};
    ++claims_;
    return Claim(this);
}

Session::Claim::~Claim()
{
    if (session_ == nullptr) return;
    std::lock_guard lock(session_->pending_mutex_);
    if (--session_->claims_ == 0 && session_->pending_.empty()) session_->drained_.notify_all();
}

std::size_t Session::in_flight() const
{
    std::lock_guard lock(pending_mutex_);
    return pending_.size();
}

void Session::on_interrupt(std::uint64_t unique)
{
    // The kernel sends it only for a request it sent; one not tracked was
    // answered already (or is being answered now, synchronously).
    std::lock_guard lock(pending_mutex_);
    if (pending_.contains(unique)) counters_.interrupts.fetch_add(1);
}

void Session::process(fuse_buf& buf, std::size_t size)
{
    const std::span message(static_cast<const std::byte*>(buf.mem), size);
    // Before CUSE_INIT, every request is refused with EIO (libfuse's answer
    // too). Marked before libfuse answers it: once the answer is out the
    // kernel creates the node, and another reader may get an ioctl at once.
    const bool initialized = initialized_.load(std::memory_order_acquire);
    std::visit(
        [&](const auto& m) {
            using M = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<M, fuse_messages::Init>) {
                initialized_.store(true, std::memory_order_release);
                fuse_session_process_buf(se_, &buf);
            } else if constexpr (std::is_same_v<M, fuse_messages::Interrupt>) {
                on_interrupt(m.unique);
            } else if constexpr (std::is_same_v<M, fuse_messages::Other>) {
                fuse_session_process_buf(se_, &buf);
            } else if (!initialized) {
                counters_.fuse_requests.fetch_add(1);
                reply_error(m.request.unique, EIO);
            } else if constexpr (std::is_same_v<M, fuse_messages::Ioctl>) {
                counters_.fuse_requests.fetch_add(1);
                counters_.ioctl_requests.fetch_add(1);
                // No exception may leave a serving thread's handler. The
                // handler answers every request it tracked itself
                // (Device::Impl::execute()), so one that throws here has not
                // been answered: ENOMEM, as the kernel answers an allocation
                // that fails.
                try {
                    handler_.on_ioctl(m.request, m.cmd, m.arg, m.flags, m.in, m.out_size,
                                      static_cast<std::uint32_t>(m.fh));
                } catch (const std::bad_alloc&) {
                    counters_.ioctls_answered.fetch_add(1);
                    reply_error(m.request.unique, ENOMEM);
                }
            } else {
                counters_.fuse_requests.fetch_add(1);
                reply_error(m.request.unique, m.errno_value);
            }
        },
        fuse_messages::decode(message));
}

void Session::write_reply(const iovec* iov, int count)
{
    // As libfuse: ENOENT means the kernel gave up on the request (its
    // caller was killed, or the request aborted); nothing to do then.
    [[maybe_unused]] const ssize_t n = io_writev(-1, const_cast<iovec*>(iov), count, this);
}

void Session::reply_error(std::uint64_t unique, int errno_value)
{
    if (errno_value <= 0 || errno_value >= 1000) errno_value = ERANGE;
    fuse_out_header out{sizeof out, -errno_value, unique};
    const iovec iov{&out, sizeof out};
    write_reply(&iov, 1);
}

void Session::reply_ioctl(std::uint64_t unique, int result, std::span<const std::byte> data)
{
    fuse_ioctl_out body{};
    body.result = result;
    fuse_out_header out{static_cast<std::uint32_t>(sizeof out + sizeof body + data.size()), 0,
                        unique};
    const iovec iov[3] = {{&out, sizeof out},
                          {&body, sizeof body},
                          {const_cast<std::byte*>(data.data()), data.size()}};
    write_reply(iov, data.empty() ? 2 : 3);
}

void Session::reply_retry(std::uint64_t unique, std::span<const UserRange> in,
                          std::span<const UserRange> out)
{
    // A UserRange is a fuse_ioctl_iovec: the ranges go out as they are.
    static_assert(sizeof(UserRange) == sizeof(fuse_ioctl_iovec) &&
                  offsetof(UserRange, addr) == offsetof(fuse_ioctl_iovec, base) &&
                  offsetof(UserRange, len) == offsetof(fuse_ioctl_iovec, len));
    if (in.size() > FUSE_IOCTL_MAX_IOV || out.size() > FUSE_IOCTL_MAX_IOV)
        return reply_error(unique, ENOMEM);
    fuse_ioctl_out body{};
    body.flags = FUSE_IOCTL_RETRY;
    body.in_iovs = static_cast<std::uint32_t>(in.size());
    body.out_iovs = static_cast<std::uint32_t>(out.size());
    const std::size_t in_bytes = in.size_bytes();
    const std::size_t out_bytes = out.size_bytes();
    fuse_out_header header{
        static_cast<std::uint32_t>(sizeof header + sizeof body + in_bytes + out_bytes), 0, unique};
    const iovec iov[4] = {{&header, sizeof header},
                          {&body, sizeof body},
                          {const_cast<UserRange*>(in.data()), in_bytes},
                          {const_cast<UserRange*>(out.data()), out_bytes}};
    write_reply(iov, 4);
}

void Session::reader_loop()
{
    fuse_buf buf{};
    while (!stopping_.load() && fuse_session_exited(se_) == 0) {
        const int res = fuse_session_receive_buf(se_, &buf);
        if (res == -EINTR || res == -EAGAIN) continue;
        if (res <= 0) break;
        process(buf, static_cast<std::size_t>(res));
    }
    std::free(buf.mem);
}

ssize_t Session::read_message(int /*libfuse's fd: the wake eventfd*/, void* buf, std::size_t len,
                              void* userdata)
{
    auto* self = static_cast<Session*>(userdata);
    if (self->external_) {
        if (self->stopping_.load()) {
            errno = ENODEV;
            return -1;
        }
        const ssize_t got = ::read(self->fd_, buf, len); // non-blocking
        if (got == 0) errno = ENODEV;
        return got > 0 ? got : -1;
    }
    for (;;) {
        if (self->stopping_.load()) {
            errno = ENODEV; // libfuse ends the session on ENODEV
            return -1;
        }
        pollfd fds[2] = {{self->fd_, POLLIN, 0}, {self->wake_fd_, POLLIN, 0}};
        const int n = ::poll(fds, 2, -1);
        if (n < 0 && errno != EINTR) return -1;
        if (self->stopping_.load() || (fds[1].revents & POLLIN) != 0) continue;
        const ssize_t got = ::read(self->fd_, buf, len);
        if (got > 0) return got;
        if (got == 0) { // the peer went away (tests): like a dead connection
            errno = ENODEV;
            return -1;
        }
        if (errno == EAGAIN || errno == EINTR) continue;
        return -1;
    }
}

ssize_t Session::io_writev(int /*wake eventfd*/, struct iovec* iov, int count, void* userdata)
{
    auto* self = static_cast<Session*>(userdata);
    std::shared_lock lock(self->fd_mutex_);
    for (;;) {
        if (self->fd_ < 0) {
            errno = ENODEV;
            return -1;
        }
        const ssize_t n = ::writev(self->fd_, iov, count);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -1;
        pollfd p{self->fd_, POLLOUT, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) return -1;
        if (self->stopping_.load() && (p.revents & POLLOUT) == 0) {
            errno = ENODEV;
            return -1;
        }
    }
}

void Session::op_init_done(void* userdata)
{
    static_cast<Session*>(userdata)->handler_.on_init_done();
}

void Session::op_open(fuse_req_t req, struct fuse_file_info* fi)
{
    Session* s = session_of(req);
    s->counters_.fuse_requests.fetch_add(1);
    if (const int e = s->handler_.on_open(); e != 0) {
        fuse_reply_err(req, e);
        return;
    }
    // An open succeeds whatever its mode (nvme-cli sends write commands
    // on O_RDONLY fds, which 6.1 allows); the handle remembers its flags for
    // the 6.2 permission rules, which look at FMODE_WRITE.
    fi->fh = static_cast<std::uint32_t>(fi->flags);
    fuse_reply_open(req, fi);
}

void Session::op_release(fuse_req_t req, struct fuse_file_info* /*fi*/)
{
    session_of(req)->counters_.fuse_requests.fetch_add(1);
    fuse_reply_err(req, 0);
}

void Session::op_read(fuse_req_t req, std::size_t, off_t, struct fuse_file_info*)
{
    session_of(req)->counters_.fuse_requests.fetch_add(1);
    // The kernel's nvme char devices have no read op: vfs_read says EINVAL.
    fuse_reply_err(req, EINVAL);
}

void Session::op_write(fuse_req_t req, const char*, std::size_t, off_t, struct fuse_file_info*)
{
    session_of(req)->counters_.fuse_requests.fetch_add(1);
    fuse_reply_err(req, EINVAL);
}

} // namespace nvmecuse::cuse
