// save-config's output (saved_config.hpp).
#include "saved_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nvmecusectl {

namespace {

std::string failed(const std::string& what, int error)
{
    return what + ": " + std::strerror(error);
}

} // namespace

bool holds_secrets(const nlohmann::json& config)
{
    if (config.is_array()) {
        for (const auto& item : config)
            if (holds_secrets(item)) return true;
        return false;
    }
    if (!config.is_object()) return false;
    for (const auto& [key, value] : config.items())
        if (key == "dhchap_secret" || key == "dhchap_ctrl_secret" || holds_secrets(value)) return true;
    return false;
}

std::expected<void, std::string> write_private_file(const std::string& path, std::string_view text)
{
    std::string temporary = path + ".XXXXXX";
    const int fd = mkostemp(temporary.data(), O_CLOEXEC); // mode 0600
    if (fd < 0) return std::unexpected(failed(path, errno));
    std::size_t done = 0;
    int error = 0;
    while (done < text.size() && error == 0) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno != EINTR) error = errno;
        if (n > 0) done += static_cast<std::size_t>(n);
    }
    if (error == 0 && ::fchmod(fd, 0600) != 0) error = errno;
    if (error == 0 && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (error == 0) return {};
    ::unlink(temporary.c_str());
    return std::unexpected(failed(path, error));
}

std::expected<void, std::string> make_private(int fd)
{
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::unexpected(failed("standard output", errno));
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) == 0) return {};
    if (::fchmod(fd, st.st_mode & 0700) != 0)
        return std::unexpected(failed("standard output: cannot make it readable by its owner only", errno));
    return {};
}

} // namespace nvmecusectl
