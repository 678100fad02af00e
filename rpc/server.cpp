// The control socket (server.hpp): accepting thread, one thread per
// connection, poll() on the connection and a stop eventfd.
#include "nvmecuse/rpc/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>

#include "nvmecuse/rpc/framing.hpp"

namespace nvmecuse::rpc {

namespace {

/// EACCES as SPDK-style method errors give errno values.
constexpr int permission_denied = -13;

std::string errno_text() { return std::strerror(errno); }

sockaddr_un address_of(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

/// Whether a daemon answers on the socket at `path`.
bool someone_listens(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const auto addr = address_of(path);
    const bool answered =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return answered;
}

/// Writes all of `text`; false when the peer is gone.
bool write_all(int fd, std::string_view text)
{
    while (!text.empty()) {
        const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace

bool peer_is_root_or_self(const ucred& peer) { return peer.uid == 0 || peer.uid == ::geteuid(); }

class Server::Impl {
public:
    Impl(const Dispatcher& dispatcher, ServerOptions options, int listen_fd, int stop_fd)
        : dispatcher_(dispatcher), options_(std::move(options)), listen_fd_(listen_fd),
          stop_fd_(stop_fd)
    {
        if (!options_.authorize) options_.authorize = peer_is_root_or_self;
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~Impl() { stop(); }

    void stop()
    {
        if (stopped_.exchange(true)) return;
        const std::uint64_t one = 1;
        (void)!::write(stop_fd_, &one, sizeof(one)); // stays readable: every thread sees it
        acceptor_.join();
        std::list<Connection> connections;
        {
            std::lock_guard lock(mutex_);
            connections.swap(connections_);
        }
        for (auto& c : connections)
            c.thread.join();
        ::close(listen_fd_);
        ::unlink(options_.path.c_str());
        ::close(stop_fd_);
    }

    const std::string& path() const { return options_.path; }

private:
    struct Connection {
        std::thread thread;
        std::atomic<bool> done{false};
    };

    /// Joins the threads of connections that have ended.
    void reap()
    {
        std::lock_guard lock(mutex_);
        for (auto it = connections_.begin(); it != connections_.end();) {
            if (it->done) {
                it->thread.join();
                it = connections_.erase(it);
            } else {
                ++it;
            }
        }
    }

    void accept_loop()
    {
        for (;;) {
            pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                spdlog::error("rpc: poll: {}", errno_text());
                return;
            }
            if (fds[1].revents != 0) return;
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            reap();
            std::lock_guard lock(mutex_);
            if (connections_.size() >= options_.max_connections) {
                spdlog::warn("rpc: {} connections already, refusing one more",
                             connections_.size());
                ::close(fd);
                continue;
            }
            auto& c = connections_.emplace_back();
            c.thread = std::thread([this, fd, &c] {
                serve(fd);
                ::close(fd);
                c.done = true;
            });
        }
    }

    /// Waits for input on `fd`; false on stop, hang-up or error.
    bool wait_readable(int fd)
    {
        pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        for (;;) {
            if (::poll(fds, 2, -1) >= 0) break;
            if (errno != EINTR) return false;
        }
        return fds[1].revents == 0 && fds[0].revents != 0;
    }

    void serve(int fd)
    {
        ucred peer{};
        socklen_t length = sizeof(peer);
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
            !options_.authorize(peer)) {
            spdlog::warn("rpc: refused a peer (pid {}, uid {})", peer.pid, peer.uid);
            (void)write_all(fd, error_response(nullptr,
                                               {permission_denied,
                                                fmt::format("permission denied: uid {} is neither "
                                                            "root nor the daemon's uid",
                                                            peer.uid)})
                                    .dump());
            return;
        }
        std::string buffer;
        char chunk[16384];
        for (;;) {
            // Every complete request in the buffer first.
            for (;;) {
                const Frame f = frame(buffer);
                if (f.kind == Frame::Kind::incomplete) break;
                if (f.kind == Frame::Kind::not_json) {
                    (void)write_all(fd, error_response(nullptr, {error_code::parse_error,
                                                                 "not JSON (a request is an object or a batch array)"})
                                            .dump());
                    return;
                }
                const std::string response = dispatcher_.handle(std::string_view(buffer).substr(0, f.end));
                buffer.erase(0, f.end);
                if (!response.empty() && !write_all(fd, response)) return;
            }
            if (buffer.size() > options_.max_request) {
                (void)write_all(fd, error_response(nullptr,
                                                   {error_code::invalid_request,
                                                    fmt::format("request larger than {} bytes",
                                                                options_.max_request)})
                                        .dump());
                return;
            }
            if (!wait_readable(fd)) return;
            const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                // The peer closed its side in the middle of a request.
                if (n == 0 && frame(buffer).kind == Frame::Kind::incomplete &&
                    buffer.find_first_not_of(" \t\r\n") != std::string::npos)
                    (void)write_all(fd, error_response(nullptr, {error_code::parse_error,
                                                                 "the request ends early"})
                                            .dump());
                return;
            }
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }

    const Dispatcher& dispatcher_;
    ServerOptions options_;
    int listen_fd_;
    int stop_fd_;
    std::atomic<bool> stopped_{false};
    std::thread acceptor_;
    std::mutex mutex_;
    std::list<Connection> connections_;
};

std::expected<std::unique_ptr<Server>, std::string> Server::start(const Dispatcher& dispatcher,
                                                                  ServerOptions options)
{
    const std::string& path = options.path;
    const std::string temporary = fmt::format("{}.{}.tmp", path, ::getpid());
    if (temporary.size() >= sizeof(sockaddr_un::sun_path))
        return std::unexpected(fmt::format("{}: path too long for a unix socket", path));
    const auto directory = std::filesystem::path(path).parent_path();
    if (!directory.empty() && ::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST)
        return std::unexpected(fmt::format("{}: {}", directory.string(), errno_text()));

    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return std::unexpected(fmt::format("{}: exists and is not a socket", path));
        if (someone_listens(path))
            return std::unexpected(
                fmt::format("{}: {} (another nvmecused serves it)", path, std::strerror(EADDRINUSE)));
        ::unlink(path.c_str()); // a dead daemon's
    }

    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(fmt::format("{}: socket: {}", path, errno_text()));
    ::unlink(temporary.c_str());
    const auto addr = address_of(temporary);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::chmod(temporary.c_str(), 0600) != 0 || ::listen(fd, 16) != 0 ||
        ::rename(temporary.c_str(), path.c_str()) != 0) {
        const std::string error = fmt::format("{}: {}", path, errno_text());
        ::close(fd);
        ::unlink(temporary.c_str());
        return std::unexpected(error);
    }
    const int stop_fd = ::eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0) {
        ::close(fd);
        ::unlink(path.c_str());
        return std::unexpected(fmt::format("eventfd: {}", errno_text()));
    }
    return std::unique_ptr<Server>(
        new Server(std::make_unique<Impl>(dispatcher, std::move(options), fd, stop_fd)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

void Server::stop() { impl_->stop(); }

const std::string& Server::path() const { return impl_->path(); }

} // namespace nvmecuse::rpc
