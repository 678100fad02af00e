#pragma once
// nvmecuse-perf's command line: fio's option names and meanings where fio
// has them (--rw, --bs, --numjobs, --runtime, --number_ios,
// --output-format), checked.

#include <expected>
#include <string_view>

#include "workload.hpp"

namespace nvmecuse::perf {

/// Everything the command line says.
struct PerfArguments {
    Job job;
    bool json = false; ///< --json or --output-format json
};

/// fio's name of a pattern ("randrw").
[[nodiscard]] std::string_view pattern_name(Pattern pattern) noexcept;
/// The --ioctl name of a kind ("submit-io").
[[nodiscard]] std::string_view ioctl_name(IoctlKind kind) noexcept;

/// Parses argv. On --help or --version (printed to stdout), or on an error
/// (printed to stderr in CLI11's words or as "nvmecuse-perf: ..."), returns
/// the exit status instead.
[[nodiscard]] std::expected<PerfArguments, int> parse_arguments(int argc, char** argv);

} // namespace nvmecuse::perf
