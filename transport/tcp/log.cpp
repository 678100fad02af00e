#include "log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace nvmecuse::transport::tcp {

spdlog::logger& log()
{
    static const std::shared_ptr<spdlog::logger> logger = [] {
        if (auto existing = spdlog::get("tcp")) return existing;
        try {
            return spdlog::stderr_color_mt("tcp");
        } catch (const spdlog::spdlog_ex&) { // registered concurrently elsewhere
            return spdlog::get("tcp");
        }
    }();
    return *logger;
}

} // namespace nvmecuse::transport::tcp
