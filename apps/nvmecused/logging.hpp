// nvmecused's log output: every category on stderr (nvmecuse/logging.hpp),
// as journald reads it when stderr is the journal, as a person reads it
// otherwise.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace nvmecused {

/// How log lines look.
enum class LogFormat {
    automatic, ///< journal when stderr is the journal (JOURNAL_STREAM), text otherwise
    journal,   ///< "<3>ctrlr: message": sd-daemon(3) priority prefixes, no timestamp
    text,      ///< "[2026-12-06 23:10:00.123] [ctrlr] [error] message"
};

/// True when `journal_stream` (the JOURNAL_STREAM variable systemd sets,
/// "<device>:<inode>", systemd.exec(5)) names the file `fd` is open on.
/// Null or malformed: false.
[[nodiscard]] bool is_journal_stream(const char* journal_stream, int fd);

/// The formatter of `journal` or text lines (see LogFormat).
[[nodiscard]] std::unique_ptr<spdlog::formatter> make_formatter(bool journal);

/// Sets every logger, present and future, to `level` (spdlog's names) and to
/// the format `format` resolves to, and makes the default logger (what
/// spdlog::info() writes to) the category "nvmecused" on the shared stderr
/// sink. Call once at start, before any other thread logs.
void configure_logging(const std::string& level, LogFormat format);

/// Writes "nvmecused: <message>" to stderr as an error: with the "<3>"
/// prefix when configure_logging() chose the journal format.
void report_error(const std::string& message);

} // namespace nvmecused
