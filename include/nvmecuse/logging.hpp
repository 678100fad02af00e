// One log category per module, all on one sink: stderr. The
// daemon chooses the format (apps/nvmecused/logging.cpp); libraries only
// ask for their category.
#pragma once

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace nvmecuse::logging {

/// The sink every nvmecuse logger writes to: stderr, unbuffered lines, so
/// that a journal or a terminal sees one stream in order. Thread-safe.
[[nodiscard]] inline std::shared_ptr<spdlog::sinks::sink> shared_sink()
{
    static const auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    return sink;
}

/// The logger of category `name` ("ctrlr", "tcp", "emu", ...), created on
/// first use on shared_sink() with the registry's level and format
/// (spdlog::set_level / set_formatter apply to it). Thread-safe: two
/// threads asking at once get the same logger.
[[nodiscard]] inline std::shared_ptr<spdlog::logger> category(const std::string& name)
{
    if (auto existing = spdlog::get(name)) return existing;
    auto logger = std::make_shared<spdlog::logger>(name, shared_sink());
    try {
        spdlog::initialize_logger(logger);
    } catch (const spdlog::spdlog_ex&) { // registered concurrently elsewhere
        return spdlog::get(name);
    }
    return logger;
}

} // namespace nvmecuse::logging
