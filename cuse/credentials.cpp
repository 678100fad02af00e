#include "nvmecuse/cuse/credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>

namespace nvmecuse::cuse {
namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

std::expected<std::string, std::error_code> read_small_file(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(last_error());
    std::string text;
    char chunk[1024];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            const auto ec = last_error();
            ::close(fd);
            return std::unexpected(ec);
        }
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

/// Same user namespace as the daemon: compare the ns inode and device.
bool same_user_namespace(pid_t pid)
{
    struct stat mine {};
    struct stat theirs {};
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
    if (::stat("/proc/self/ns/user", &mine) != 0 || ::stat(path.c_str(), &theirs) != 0) return false;
    return mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

} // namespace

std::expected<std::uint64_t, std::error_code> parse_cap_eff(std::string_view text)
{
    constexpr std::string_view key = "CapEff:";
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = std::min(text.find('\n', pos), text.size());
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.starts_with(key)) continue;
        line.remove_prefix(key.size());
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
            line.remove_suffix(1);
        std::uint64_t caps = 0;
        const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), caps, 16);
        if (line.empty() || ec != std::errc{} || end != line.data() + line.size()) break;
        return caps;
    }
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
}

std::expected<CallerCredentials, std::error_code> read_caller_credentials(pid_t pid)
{
    if (pid <= 0) return std::unexpected(std::make_error_code(std::errc::no_such_process));
    auto text = read_small_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) return std::unexpected(text.error());
    auto caps = parse_cap_eff(*text);
    if (!caps) return std::unexpected(caps.error());
    return CallerCredentials{pid, *caps, same_user_namespace(pid)};
}

} // namespace nvmecuse::cuse
