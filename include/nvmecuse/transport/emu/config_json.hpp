// The emulated controller's configuration as JSON: what `nvmecused --emulate
// --config FILE` reads. parse_controller_config() checks the shape (keys,
// types, ranges of the fields); load_controller_config() also checks that
// the result is a controller this machine can build (check_controller_config()).
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include "nvmecuse/transport/emu/config.hpp"

namespace nvmecuse::emu {

/// Parses a controller configuration.
///
/// The document is an object whose keys are the field names of
/// ControllerConfig; "namespaces" is an array of objects keyed by the field
/// names of NamespaceConfig. Every key is optional and takes the struct's
/// default when absent (a namespace object's "nsid" too: give it explicitly
/// when there are several). A missing "namespaces" keeps the default single
/// namespace; `[]` means none.
///
/// Byte counts (`size_bytes`, `total_capacity_bytes`, `lba_data_size`,
/// `metadata_size`) take a non-negative integer or a string parsed by
/// parse_size() ("1GiB", "512 MiB", "1TB", "4096").
///
/// Error (one line, naming the JSON path such as `$.namespaces[1].size_bytes`):
/// malformed JSON (with line and column), a key that is not a field
/// (typos are never ignored), a key given twice in one object, a value of the
/// wrong type, an integer outside the field's C++ range (mdts: 0..max_mdts),
/// an unparsable size.
/// Pure; any thread.
[[nodiscard]] std::expected<ControllerConfig, std::string>
parse_controller_config(std::string_view json);

/// Reads `path`, parses it with parse_controller_config() and checks it with
/// check_controller_config() against this machine's memory and with
/// check_backing_directories().
/// Error: "<path>: <strerror>" when the file cannot be read, otherwise
/// "<path>: <parse or check error>". Blocking file I/O; any thread.
[[nodiscard]] std::expected<ControllerConfig, std::string>
load_controller_config(const std::filesystem::path& path);

/// Serialises every field (defaults included) as a JSON object that
/// parse_controller_config() turns back into an equal config. Byte counts are
/// written as integers. `indent` < 0 gives one line. Pure; any thread.
[[nodiscard]] std::string to_json(const ControllerConfig& config, int indent = 2);

/// Parses a byte count: decimal digits with an optional fraction, optional
/// spaces, then an optional unit, case-insensitive: `B`; decimal `kB MB GB
/// TB PB EB` (powers of 1000); binary `KiB MiB GiB TiB PiB EiB` (powers of
/// 1024). The bare `K M G T P E` are refused as ambiguous. A fraction must
/// give a whole number of bytes ("1.5KiB" = 1536, "1.5B" is an error).
/// Error: a short reason without the path ("ambiguous unit \"G\": …").
/// Pure; any thread.
[[nodiscard]] std::expected<std::uint64_t, std::string> parse_size(std::string_view text);

} // namespace nvmecuse::emu
