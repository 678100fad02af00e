// Helpers of the methods (method_support.hpp).
#include "method_support.hpp"

#include <fmt/format.h>

#include <cerrno>

namespace nvmecuse::rpc {

Error to_rpc_error(const service::ManagerError& error)
{
    using Kind = service::ManagerError::Kind;
    int e = EIO;
    switch (error.kind) {
    case Kind::not_found: e = ENODEV; break;
    case Kind::exists: e = EEXIST; break;
    case Kind::invalid: e = EINVAL; break;
    case Kind::busy: e = EBUSY; break;
    case Kind::failed: e = EIO; break;
    }
    return Error{-e, error.message};
}

Error invalid_params(std::string message) { return Error{error_code::invalid_params, std::move(message)}; }

std::expected<std::string, Error> required_string(const nlohmann::json& params,
                                                  std::string_view key)
{
    const auto it = params.find(key);
    if (it == params.end() || !it->is_string())
        return std::unexpected(
            invalid_params(fmt::format("\"{}\" is required (a string)", key)));
    return it->get<std::string>();
}

std::expected<std::string, Error> name_only(const nlohmann::json& params)
{
    if (auto ok = only_known_keys(params, {"name"}); !ok) return std::unexpected(ok.error());
    return required_string(params, "name");
}

std::expected<transport::TransportId, Error>
transport_id_from(const std::vector<std::pair<std::string_view, std::string>>& fields)
{
    std::string text;
    for (const auto& [key, value] : fields) {
        if (value.empty()) continue;
        if (value.find_first_of(" \t\r\n") != std::string::npos)
            return std::unexpected(invalid_params(fmt::format("{}: no blanks allowed", key)));
        text += fmt::format("{}{}:{}", text.empty() ? "" : " ", key, value);
    }
    auto id = transport::parse_transport_id(text);
    if (!id) return std::unexpected(invalid_params(id.error()));
    return std::move(*id);
}

std::string trimmed(std::string_view text)
{
    const auto end = text.find_last_not_of(std::string_view(" \0", 2));
    return std::string(end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1));
}

} // namespace nvmecuse::rpc
