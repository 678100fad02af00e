// nvmecusectl save-config: where save_config's answer goes. A controller
// attached with DH-HMAC-CHAP secrets has them in the answer (a restart
// must authenticate again), so the file is readable by its owner only.
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>

namespace nvmecusectl {

/// True when `config` (save_config's answer) carries a dhchap_secret or
/// dhchap_ctrl_secret. Pure.
[[nodiscard]] bool holds_secrets(const nlohmann::json& config);

/// Writes `text` to `path` as a new file of mode 0600 (whatever the umask
/// or an older file's mode): a temporary file beside it, then rename(2), so
/// that a reader sees the old file or the new one. Errors name the path.
[[nodiscard]] std::expected<void, std::string> write_private_file(const std::string& path,
                                                                  std::string_view text);

/// When `fd` is a regular file that group or others may read, makes it
/// 0600 (`nvmecusectl save-config > FILE` with secrets); an error when that
/// fails. Anything else (a pipe, a terminal) is left alone.
[[nodiscard]] std::expected<void, std::string> make_private(int fd);

} // namespace nvmecusectl
