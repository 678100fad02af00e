// A JSON-RPC client of the control socket (nvmecusectl, tests).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <expected>
#include <string>

#include "nvmecuse/rpc/dispatcher.hpp"

namespace nvmecuse::rpc {

/// Why a call failed: either the socket (not_running, permission_denied,
/// io), or the daemon answered with an error object (rpc_error; `error`
/// holds it).
struct CallError {
    enum class Kind { not_running, permission_denied, io, rpc_error };
    Kind kind = Kind::io;
    std::string message; ///< for the user, naming the socket or the method
    Error error;         ///< rpc_error: the daemon's
};

class Client {
public:
    /// Connects to the socket at `path`. Errors: not_running (no socket,
    /// nobody listening), permission_denied (EACCES/EPERM), io.
    [[nodiscard]] static std::expected<Client, CallError> connect(const std::string& path);

    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    ~Client();

    /// Sends one request and waits (at most `timeout`) for its response.
    [[nodiscard]] std::expected<nlohmann::json, CallError>
    call(const std::string& method, const nlohmann::json& params = nlohmann::json::object(),
         std::chrono::milliseconds timeout = std::chrono::seconds(120));

    /// Sends `text` as it is and returns the next response value as it
    /// came (tests of malformed requests).
    [[nodiscard]] std::expected<nlohmann::json, CallError>
    exchange(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
    explicit Client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    int fd_ = -1;
    std::string path_;
    std::string buffer_;
    long next_id_ = 1;
};

} // namespace nvmecuse::rpc
