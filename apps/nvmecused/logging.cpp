// nvmecused's log format: sd-daemon(3) priority prefixes for the journal,
// timestamps for a terminal or a file.
#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "nvmecuse/logging.hpp"

namespace nvmecused {

namespace {

/// spdlog's levels as syslog priorities (sd-daemon(3): "<3>" is SD_ERR).
std::string_view priority_prefix(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return "<7>";
    case spdlog::level::info:
        return "<6>";
    case spdlog::level::warn:
        return "<4>";
    case spdlog::level::err:
        return "<3>";
    case spdlog::level::critical:
        return "<2>";
    default:
        return "";
    }
}

/// The %* flag: the line's priority prefix.
class PriorityFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
                spdlog::memory_buf_t& dest) override
    {
        const auto prefix = priority_prefix(msg.level);
        dest.append(prefix.data(), prefix.data() + prefix.size());
    }
    [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override
    {
        return std::make_unique<PriorityFlag>();
    }
};

bool journal_chosen = false;

} // namespace

bool is_journal_stream(const char* journal_stream, int fd)
{
    if (journal_stream == nullptr) return false;
    unsigned long long device = 0;
    unsigned long long inode = 0;
    char end = 0;
    if (std::sscanf(journal_stream, "%llu:%llu%c", &device, &inode, &end) != 2) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return false;
    return st.st_dev == device && st.st_ino == inode;
}

std::unique_ptr<spdlog::formatter> make_formatter(bool journal)
{
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    if (journal)
        formatter->add_flag<PriorityFlag>('*').set_pattern("%*%n: %v");
    else
        formatter->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
    return formatter;
}

void configure_logging(const std::string& level, LogFormat format)
{
    journal_chosen = format == LogFormat::journal ||
                     (format == LogFormat::automatic &&
                      is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO));
    spdlog::set_default_logger(nvmecuse::logging::category("nvmecused"));
    spdlog::set_formatter(make_formatter(journal_chosen));
    spdlog::set_level(spdlog::level::from_str(level));
}

void report_error(const std::string& message)
{
    std::fprintf(stderr, "%snvmecused: %s\n", journal_chosen ? "<3>" : "", message.c_str());
}

} // namespace nvmecused
