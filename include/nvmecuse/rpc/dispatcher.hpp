// JSON-RPC 2.0 (https://www.jsonrpc.org/specification): requests to
// method handlers and their results or errors to response objects. Pure:
// no I/O, so the whole contract is testable without a socket.
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace nvmecuse::rpc {

/// The error codes JSON-RPC 2.0 defines (section 5.1). Method errors are
/// negative errno values, as SPDK answers (-19 for ENODEV, ...).
namespace error_code {
inline constexpr int parse_error = -32700;      ///< not JSON
inline constexpr int invalid_request = -32600;  ///< JSON, not a request (or too large)
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
} // namespace error_code

/// The error object of a response.
struct Error {
    int code = error_code::internal_error;
    std::string message;
};

/// A method: `params` is always an object (absent params: an empty one).
/// Exceptions of nlohmann::json (a parameter of the wrong type) become
/// invalid_params. Called on the server's connection threads, one request
/// at a time per connection, several connections at once.
using Handler = std::function<std::expected<nlohmann::json, Error>(const nlohmann::json& params)>;

class Dispatcher {
public:
    /// Registers `method`. Before serving only.
    void add(std::string method, Handler handler);

    /// The response to one request text: a request object, or a batch
    /// array of them. Empty when nothing is to be answered (notifications
    /// only). Thread-safe once every method is added.
    [[nodiscard]] std::string handle(std::string_view text) const;

    /// The methods, sorted.
    [[nodiscard]] std::vector<std::string> methods() const;

private:
    /// The response to one parsed request; null for a notification.
    [[nodiscard]] nlohmann::json handle_one(const nlohmann::json& request) const;

    std::map<std::string, Handler, std::less<>> handlers_;
};

/// The response object for `error` to the request `id` (null when unknown).
[[nodiscard]] nlohmann::json error_response(const nlohmann::json& id, const Error& error);

/// Checks that `params` holds only keys of `allowed`: a typo must not be
/// ignored silently (SPDK's decoders refuse unknown keys too).
[[nodiscard]] std::expected<void, Error>
only_known_keys(const nlohmann::json& params, std::initializer_list<std::string_view> allowed);

} // namespace nvmecuse::rpc
