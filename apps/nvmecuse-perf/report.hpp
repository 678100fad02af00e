#pragma once
// nvmecuse-perf's results, as text or JSON: the whole run, and reads and
// writes apart (fio's "read" and "write" parts) when the job mixes them.

#include <nlohmann/json.hpp>
#include <string>

#include "workload.hpp"

namespace nvmecuse::perf {

/// A finished run: every thread's results merged.
struct RunResult {
    ThreadResult total;
    double seconds = 0;     ///< wall-clock time of the run
    double cpu_seconds = 0; ///< the process's CPU time over the run
    std::string error;      ///< the first thread's failure, or empty
};

/// The JSON object: job, totals (ios, iops, mb_per_s, latency_ns,
/// cpu_us_per_io) over both directions, "read" and "write" objects with
/// the same figures per direction, verified_blocks, error (null when none).
[[nodiscard]] nlohmann::json json_report(const Job& job, const RunResult& run);

/// The human-readable lines, one per direction when both were issued.
[[nodiscard]] std::string text_report(const Job& job, const RunResult& run);

} // namespace nvmecuse::perf
