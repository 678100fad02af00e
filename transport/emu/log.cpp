#include "log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace nvmecuse::emu {

spdlog::logger& log()
{
    static const std::shared_ptr<spdlog::logger> logger = [] {
        if (auto existing = spdlog::get("emu")) return existing;
        try {
            return spdlog::stderr_color_mt("emu");
        } catch (const spdlog::spdlog_ex&) { // registered concurrently elsewhere
            return spdlog::get("emu");
        }
    }();
    return *logger;
}

} // namespace nvmecuse::emu
