#include "session.hpp"

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
    ops.ioctl = &Session::op_ioctl;
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
    const fuse_custom_io io{&Session::io_writev, &Session::io_read, nullptr, nullptr};
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
        fuse_session_process_buf(se_, &receive.buf);
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
        std::vector<fuse_req_t> left;
        {
            std::unique_lock lock(pending_mutex_);
            drained_.wait_for(lock, options_.drain_grace,
                              [&] { return pending_.empty() && claims_ == 0; });
            left.assign(pending_.begin(), pending_.end());
            pending_.clear();
        }
        for (fuse_req_t req : left) {
            fuse_reply_err(req, reply_errno);
            counters_.ioctls_answered.fetch_add(1);
        }
        std::unique_lock lock(fd_mutex_);
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    });
}

void Session::track(fuse_req_t req)
{
    {
        std::lock_guard lock(pending_mutex_);
        pending_.insert(req);
    }
    // Calls on_interrupt at once when the interrupt came first. The data is
    // the Session (alive while readers run): libfuse may call the function
    // just after the request was answered, when per-request state is gone.
    fuse_req_interrupt_func(req, &Session::on_interrupt, this);
}

Session::Claim Session::claim(fuse_req_t req)
{
    std::lock_guard lock(pending_mutex_);
    if (pending_.erase(req) == 0) return {};
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

void Session::on_interrupt(fuse_req_t req, void* data)
{
    auto* self = static_cast<Session*>(data);
    std::lock_guard lock(self->pending_mutex_);
    if (!self->pending_.contains(req)) return; // already answered
    self->counters_.interrupts.fetch_add(1);
}

void Session::reader_loop()
{
    fuse_buf buf{};
    while (!stopping_.load() && fuse_session_exited(se_) == 0) {
        const int res = fuse_session_receive_buf(se_, &buf);
        if (res == -EINTR || res == -EAGAIN) continue;
        if (res <= 0) break;
        fuse_session_process_buf(se_, &buf);
    }
    std::free(buf.mem);
}

namespace {
/// A FUSE_IOCTL whose body is shorter than fuse_ioctl_in, or whose in_size
/// claims more bytes than followed it. libfuse 3.14 trusts both and would
/// decode the missing bytes from what earlier requests left in its buffer;
/// no kernel sends one (the fuzzer's seed `in_size_past_message` does).
bool ioctl_overruns_message(const void* buf, std::size_t got) noexcept
{
    fuse_in_header h{};
    if (got < sizeof h) return false; // libfuse refuses it itself
    std::memcpy(&h, buf, sizeof h);
    if (h.opcode != FUSE_IOCTL) return false;
    fuse_ioctl_in in{};
    if (got < sizeof h + sizeof in) return true;
    std::memcpy(&in, static_cast<const std::byte*>(buf) + sizeof h, sizeof in);
    return in.in_size > got - sizeof h - sizeof in;
}
} // namespace

ssize_t Session::io_read(int wake_fd, void* buf, std::size_t len, void* userdata)
{
    for (;;) {
        const ssize_t got = read_message(wake_fd, buf, len, userdata);
        if (got <= 0 || !ioctl_overruns_message(buf, static_cast<std::size_t>(got))) return got;
        // Answered here with EINVAL, as the kernel answers an ioctl whose
        // argument it cannot read, and never handed to libfuse.
        fuse_in_header h{};
        std::memcpy(&h, buf, sizeof h);
        fuse_out_header out{sizeof(fuse_out_header), -EINVAL, h.unique};
        iovec iov{&out, sizeof out};
        [[maybe_unused]] const ssize_t sent = io_writev(wake_fd, &iov, 1, userdata);
    }
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

void Session::op_ioctl(fuse_req_t req, int cmd, void* arg, struct fuse_file_info* fi,
                       unsigned int flags, const void* in_buf, std::size_t in_bufsz,
                       std::size_t out_bufsz)
{
    Session* self = session_of(req);
    self->counters_.fuse_requests.fetch_add(1);
    self->counters_.ioctl_requests.fetch_add(1);
    const std::span<const std::byte> in(static_cast<const std::byte*>(in_buf),
                                        in_buf ? in_bufsz : 0);
    // No exception may unwind through libfuse's C frames. The handler
    // answers every request it tracked itself (Device::Impl::execute()), so
    // one that throws here has not been answered: ENOMEM, as the kernel
    // answers an allocation that fails.
    try {
        self->handler_.on_ioctl(req, static_cast<unsigned int>(cmd),
                                reinterpret_cast<std::uintptr_t>(arg), flags, in, out_bufsz,
                                fi != nullptr ? static_cast<std::uint32_t>(fi->fh) : 0u);
    } catch (const std::bad_alloc&) {
        self->counters_.ioctls_answered.fetch_add(1);
        fuse_reply_err(req, ENOMEM);
    }
}

} // namespace nvmecuse::cuse
