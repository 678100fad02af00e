// Address resolution and the non-blocking TCP connect. See socket.hpp.
#include "socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "nvmecuse/transport/tcp/tcp_transport.hpp"

namespace nvmecuse::transport::tcp {

namespace {
std::error_code errno_code(int e) noexcept
{
    return {e, std::generic_category()};
}
std::unexpected<std::error_code> fail(std::errc e) noexcept
{
    return std::unexpected(std::make_error_code(e));
}

/// getaddrinfo(3)'s EAI_* codes, with gai_strerror's words.
class ResolverCategory final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "getaddrinfo"; }
    [[nodiscard]] std::string message(int code) const override
    {
        return std::string("cannot resolve the address: ") + ::gai_strerror(code);
    }
};
} // namespace

const std::error_category& resolver_category() noexcept
{
    static const ResolverCategory category;
    return category;
}

std::string SocketAddress::to_string() const
{
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        ::inet_ntop(AF_INET, &in->sin_addr, text.data(), text.size());
        return std::string(text.data()) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (storage.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text.data(), text.size());
        return "[" + std::string(text.data()) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "?";
}

std::expected<SocketAddress, std::error_code>
resolve(std::string_view traddr, std::string_view trsvcid, std::string_view adrfam)
{
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(trsvcid.data(), trsvcid.data() + trsvcid.size(), port);
    if (ec != std::errc{} || end != trsvcid.data() + trsvcid.size() || port == 0 || port > 65535)
        return fail(std::errc::invalid_argument);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    if (adrfam == "ipv4") {
        hints.ai_family = AF_INET;
    } else if (adrfam == "ipv6") {
        hints.ai_family = AF_INET6;
    } else if (adrfam.empty()) {
        hints.ai_family = AF_UNSPEC;
    } else {
        return fail(std::errc::invalid_argument);
    }
    const std::string host(traddr);
    const std::string service = std::to_string(port);
    addrinfo* list = nullptr;
    const int r = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (r == EAI_SYSTEM) return std::unexpected(errno_code(errno));
    if (r != 0) return std::unexpected(std::error_code(r, resolver_category()));
    if (list == nullptr) return std::unexpected(std::error_code(EAI_NONAME, resolver_category()));
    SocketAddress a;
    const auto n = std::min<std::size_t>(list->ai_addrlen, sizeof a.storage);
    std::memcpy(&a.storage, list->ai_addr, n);
    a.length = static_cast<socklen_t>(n);
    ::freeaddrinfo(list);
    return a;
}

int poll_timeout_ms(Clock::time_point deadline) noexcept
{
    const auto now = Clock::now();
    if (now >= deadline) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return static_cast<int>(std::clamp<long long>(ms, 1, 60'000));
}

std::expected<UniqueFd, std::error_code> connect_tcp(const SocketAddress& address,
                                                     Clock::time_point deadline)
{
    UniqueFd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         IPPROTO_TCP));
    if (!fd.valid()) return std::unexpected(errno_code(errno));
    // Commands are small and latency-bound: no Nagle (like the kernel's nvme-tcp).
    const int one = 1;
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return std::unexpected(errno_code(errno));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) ==
        0)
        return fd;
    if (errno != EINPROGRESS) {
        const int e = errno;
        if (e == ENETUNREACH) return fail(std::errc::host_unreachable);
        return std::unexpected(errno_code(e));
    }
    for (;;) {
        pollfd p{fd.get(), POLLOUT, 0};
        const int n = ::poll(&p, 1, poll_timeout_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_code(errno));
        if (n == 0) return fail(std::errc::timed_out);
        break;
    }
    int error = 0;
    socklen_t len = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0)
        return std::unexpected(errno_code(errno));
    if (error == ENETUNREACH) return fail(std::errc::host_unreachable);
    if (error != 0) return std::unexpected(errno_code(error));
    return fd;
}

} // namespace nvmecuse::transport::tcp
