// The control socket's client side (client.hpp).
#include "nvmecuse/rpc/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "nvmecuse/rpc/framing.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;

std::expected<Client, CallError> Client::connect(const std::string& path)
{
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path))
        return std::unexpected(CallError{CallError::Kind::io, path + ": path too long", {}});
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return std::unexpected(CallError{CallError::Kind::io, std::strerror(errno), {}});
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        const int e = errno;
        ::close(fd);
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            return std::unexpected(CallError{
                CallError::Kind::not_running,
                fmt::format("nvmecused is not running (nothing answers on {}: {})", path,
                            std::strerror(e)),
                {}});
        if (e == EACCES || e == EPERM)
            return std::unexpected(CallError{
                CallError::Kind::permission_denied,
                fmt::format("{}: {} (the control socket is root's: run as root)", path,
                            std::strerror(e)),
                {}});
        return std::unexpected(
            CallError{CallError::Kind::io, fmt::format("{}: {}", path, std::strerror(e)), {}});
    }
    return Client(fd, path);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)),
      buffer_(std::move(other.buffer_)), next_id_(other.next_id_)
{
}

Client& Client::operator=(Client&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        buffer_ = std::move(other.buffer_);
        next_id_ = other.next_id_;
    }
    return *this;
}

Client::~Client()
{
    if (fd_ >= 0) ::close(fd_);
}

std::expected<json, CallError> Client::exchange(const std::string& text,
                                                std::chrono::milliseconds timeout)
{
    std::string_view rest = text;
    while (!rest.empty()) {
        const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break; // the daemon may have answered and closed: read that
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const Frame f = frame(buffer_);
        if (f.kind == Frame::Kind::complete) {
            const std::string value = buffer_.substr(0, f.end);
            buffer_.erase(0, f.end);
            try {
                return json::parse(value);
            } catch (const json::exception& e) {
                return std::unexpected(CallError{CallError::Kind::io, e.what(), {}});
            }
        }
        if (f.kind == Frame::Kind::not_json)
            return std::unexpected(
                CallError{CallError::Kind::io, path_ + ": the answer is not JSON", {}});
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd fds{fd_, POLLIN, 0};
        const int ready = left.count() > 0 ? ::poll(&fds, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0)
            return std::unexpected(
                CallError{CallError::Kind::io, path_ + ": no answer in time", {}});
        char chunk[16384];
        const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return std::unexpected(CallError{
                CallError::Kind::io, path_ + ": the daemon closed the connection", {}});
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::expected<json, CallError> Client::call(const std::string& method, const json& params,
                                            std::chrono::milliseconds timeout)
{
    const long id = next_id_++;
    const json request{{"jsonrpc", "2.0"}, {"method", method}, {"id", id}, {"params", params}};
    auto response = exchange(request.dump(), timeout);
    if (!response) return response;
    if (const auto error = response->find("error"); error != response->end()) {
        Error e{error->value("code", 0), error->value("message", std::string())};
        const auto kind = e.code == -13 ? CallError::Kind::permission_denied
                                        : CallError::Kind::rpc_error;
        return std::unexpected(CallError{kind, fmt::format("{}: {}", method, e.message), e});
    }
    if (response->value("id", json()) != id)
        return std::unexpected(CallError{CallError::Kind::io, method + ": answer to another id", {}});
    return response->value("result", json());
}

} // namespace nvmecuse::rpc
