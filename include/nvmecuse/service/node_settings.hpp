// The CUSE nodes' directory, mode and owner as a person writes them (the
// daemon's --dir/--mode/--uid/--gid, a configuration's node_set_options),
// checked and turned into what ServeOptions holds.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>
#include <string_view>

namespace nvmecuse::service {

/// A user (or, with `is_group`, a group) given by name or number. Errors
/// read "<label> <text>: no such user (give a user name or number)" and the
/// like. Any thread (getpwnam_r/getgrnam_r).
[[nodiscard]] std::expected<unsigned, std::string>
resolve_owner(std::string_view label, const std::string& text, bool is_group);

/// The nodes' permission bits written in octal ("0660"), at most 0777.
/// Errors say what is wrong, without a label. Pure.
[[nodiscard]] std::expected<mode_t, std::string> parse_node_mode(std::string_view text);

/// The nodes' directory under /dev: relative, not empty, no "." or ".."
/// component, no empty one. Errors say what is wrong. Pure.
[[nodiscard]] std::expected<void, std::string> check_node_directory(std::string_view directory);

} // namespace nvmecuse::service
