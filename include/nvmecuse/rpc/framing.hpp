// Where one JSON-RPC message ends in a byte stream. SPDK's rpc.py (and
// JSON-RPC over a stream in general) sends a bare JSON value with no
// length prefix or delimiter, so the server finds the end of the
// top-level object or array itself.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace nvmecuse::rpc {

/// What frame() found at the start of a buffer.
struct Frame {
    enum class Kind { incomplete, complete, not_json };
    Kind kind = Kind::incomplete;
    std::size_t end = 0; ///< complete: one past the value's last byte
};

/// Finds the first complete top-level JSON object or array in `buffer`
/// (leading whitespace skipped), tracking strings and escapes. not_json
/// when the first non-blank byte starts no object or array, or when the
/// unfinished value already has a syntax error (so a client that waits
/// for its answer gets -32700 rather than silence). Pure.
[[nodiscard]] Frame frame(std::string_view buffer);

} // namespace nvmecuse::rpc
