#include "nvmecuse/cuse/credentials.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "nvmecuse/errno.hpp"

namespace nvmecuse::cuse {
namespace {


/// Same user namespace as the daemon: compare the ns inode and device.
bool same_user_namespace_uncached(pid_t pid)
{
    static const struct stat mine = [] {
        struct stat st {};
        ::stat("/proc/self/ns/user", &st);
        return st;
    }();
    struct stat theirs {};
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
    if (::stat(path.c_str(), &theirs) != 0) return false;
    return mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

/// The answer of same_user_namespace_uncached() for a task, remembered for
/// a short while: the stat() walks /proc and the nsfs link, the most
/// expensive system call of a privileged ioctl, while a caller that issues
/// thousands of ioctls a second rarely changes namespace. An entry is only
/// reused for the same thread with the same effective capabilities, and for
/// `ttl` at most, so a recycled thread id (which needs the pid space to wrap
/// within `ttl`) or a task that moves to another user namespace after an
/// ioctl is judged afresh within `ttl`. Thread-safe.
class UserNamespaceCache {
public:
    bool same(pid_t pid, std::uint64_t effective)
    {
        const auto now = Clock::now();
        {
            std::lock_guard lock(mutex_);
            if (auto it = entries_.find(pid); it != entries_.end()) {
                if (it->second.effective == effective && now < it->second.expires)
                    return it->second.same;
            }
        }
        const bool same = same_user_namespace_uncached(pid);
        std::lock_guard lock(mutex_);
        if (entries_.size() >= max_entries) std::erase_if(entries_, [&](const auto& e) {
            return e.second.expires <= now;
        });
        if (entries_.size() < max_entries) entries_[pid] = {effective, now + ttl, same};
        return same;
    }

private:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds ttl{100};
    static constexpr std::size_t max_entries = 256;
    struct Entry {
        std::uint64_t effective;
        Clock::time_point expires;
        bool same;
    };
    std::mutex mutex_;
    std::unordered_map<pid_t, Entry> entries_;
};

bool same_user_namespace(pid_t pid, std::uint64_t effective)
{
    static UserNamespaceCache cache;
    return cache.same(pid, effective);
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
    // pid 0 would make capget() describe the daemon itself.
    if (pid <= 0) return std::unexpected(std::make_error_code(std::errc::no_such_process));
    // capget() on another task: its effective set in one system call (the
    // CapEff line of /proc/<pid>/status, without opening and parsing it,
    // which costs several system calls per ioctl).
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, pid};
    std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
    if (::syscall(SYS_capget, &header, data.data()) != 0) return std::unexpected(last_errno());
    const std::uint64_t effective =
        std::uint64_t{data[0].effective} | std::uint64_t{data[1].effective} << 32;
    // The namespace matters only when there is a capability to honour.
    const bool same_ns = effective != 0 && same_user_namespace(pid, effective);
    return CallerCredentials{pid, effective, same_ns};
}

} // namespace nvmecuse::cuse
