// The nodes' directory, mode and owner, checked (node_settings.hpp).
#include "nvmecuse/service/node_settings.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace nvmecuse::service {

namespace {

bool all_digits(std::string_view text, char highest)
{
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [&](char c) { return c >= '0' && c <= highest; });
}

} // namespace

std::expected<unsigned, std::string> resolve_owner(std::string_view label, const std::string& text,
                                                   bool is_group)
{
    if (all_digits(text, '9')) {
        try {
            const unsigned long id = std::stoul(text);
            if (id < 0xffffffffUL) return static_cast<unsigned>(id);
        } catch (const std::exception&) {
        }
        return std::unexpected(fmt::format("{} {}: out of range", label, text));
    }
    std::vector<char> buffer(16384);
    if (is_group) {
        struct group entry {};
        struct group* found = nullptr;
        const int e = ::getgrnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (found != nullptr) return static_cast<unsigned>(found->gr_gid);
        if (e != 0) return std::unexpected(fmt::format("{} {}: {}", label, text, std::strerror(e)));
        return std::unexpected(
            fmt::format("{} {}: no such group (give a group name or number)", label, text));
    }
    passwd entry{};
    passwd* found = nullptr;
    const int e = ::getpwnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found != nullptr) return static_cast<unsigned>(found->pw_uid);
    if (e != 0) return std::unexpected(fmt::format("{} {}: {}", label, text, std::strerror(e)));
    return std::unexpected(
        fmt::format("{} {}: no such user (give a user name or number)", label, text));
}

std::expected<mode_t, std::string> parse_node_mode(std::string_view text)
{
    if (!all_digits(text, '7') || text.size() > 4)
        return std::unexpected(fmt::format("\"{}\" is not an octal mode such as \"0660\"", text));
    mode_t mode = 0;
    for (char c : text)
        mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
    if (mode > 0777)
        return std::unexpected(fmt::format("\"{}\": only permission bits (0777 at most)", text));
    return mode;
}

std::expected<void, std::string> check_node_directory(std::string_view directory)
{
    if (directory.empty()) return std::unexpected("empty (nodes are /dev/<directory>/nvme<N>)");
    if (directory.front() == '/')
        return std::unexpected(fmt::format("\"{}\": must be relative to /dev", directory));
    std::size_t start = 0;
    while (start <= directory.size()) {
        const std::size_t end = std::min(directory.find('/', start), directory.size());
        const std::string_view part = directory.substr(start, end - start);
        if (part.empty() || part == "." || part == "..")
            return std::unexpected(
                fmt::format("\"{}\": an empty, \".\" or \"..\" component", directory));
        start = end + 1;
    }
    return {};
}

} // namespace nvmecuse::service
