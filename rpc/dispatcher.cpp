// JSON-RPC 2.0 request handling (dispatcher.hpp).
#include "nvmecuse/rpc/dispatcher.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace nvmecuse::rpc {

using nlohmann::json;

void Dispatcher::add(std::string method, Handler handler)
{
    handlers_.insert_or_assign(std::move(method), std::move(handler));
}

std::vector<std::string> Dispatcher::methods() const
{
    std::vector<std::string> out;
    for (const auto& [name, handler] : handlers_)
        out.push_back(name);
    return out;
}

json error_response(const json& id, const Error& error)
{
    return json{{"jsonrpc", "2.0"},
                {"id", id},
                {"error", json{{"code", error.code}, {"message", error.message}}}};
}

std::expected<void, Error> only_known_keys(const json& params,
                                           std::initializer_list<std::string_view> allowed)
{
    for (const auto& [key, value] : params.items())
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            return std::unexpected(
                Error{error_code::invalid_params, fmt::format("unknown parameter \"{}\"", key)});
    return {};
}

namespace {

/// A response as text. Messages may quote what the client sent (a parse
/// error's "last read", a method name), and the client may send bytes that
/// are not UTF-8: those are replaced (U+FFFD), never thrown on.
std::string text_of(const json& response)
{
    return response.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// An id as the specification allows it: a string, a number or null.
bool valid_id(const json& id)
{
    return id.is_string() || id.is_number() || id.is_null();
}

} // namespace

json Dispatcher::handle_one(const json& request) const
{
    if (!request.is_object())
        return error_response(nullptr, {error_code::invalid_request, "a request is an object"});
    const auto id_it = request.find("id");
    const bool notification = id_it == request.end();
    const json id = notification ? json(nullptr) : *id_it;
    if (!valid_id(id))
        return error_response(nullptr,
                              {error_code::invalid_request, "id must be a string, number or null"});
    const auto version = request.find("jsonrpc");
    if (version == request.end() || *version != "2.0")
        return error_response(id, {error_code::invalid_request, "jsonrpc must be \"2.0\""});
    const auto method = request.find("method");
    if (method == request.end() || !method->is_string())
        return error_response(id, {error_code::invalid_request, "method must be a string"});
    const auto params = request.find("params");
    if (params != request.end() && !params->is_structured() && !params->is_null())
        return error_response(id,
                              {error_code::invalid_request, "params must be an object or array"});
    for (const auto& [key, value] : request.items())
        if (key != "jsonrpc" && key != "method" && key != "params" && key != "id")
            return error_response(
                id, {error_code::invalid_request, fmt::format("unknown member \"{}\"", key)});

    const auto handler = handlers_.find(method->get<std::string>());
    std::expected<json, Error> result;
    if (handler == handlers_.end()) {
        result = std::unexpected(
            Error{error_code::method_not_found,
                  fmt::format("method \"{}\" not found", method->get<std::string>())});
    } else if (params != request.end() && params->is_array()) {
        result = std::unexpected(
            Error{error_code::invalid_params, "params must be an object (named parameters)"});
    } else {
        try {
            const json empty = json::object();
            result = handler->second(
                params == request.end() || params->is_null() ? empty : *params);
        } catch (const json::exception& e) {
            result = std::unexpected(Error{error_code::invalid_params, e.what()});
        } catch (const std::exception& e) {
            result = std::unexpected(Error{error_code::internal_error, e.what()});
        }
    }
    if (notification) return nullptr;
    if (!result) return error_response(id, result.error());
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(*result)}};
}

std::string Dispatcher::handle(std::string_view text) const
{
    json request;
    try {
        request = json::parse(text);
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number no double holds
        // (1E777): JSON's grammar allows it, nothing here can read it.
        return text_of(error_response(nullptr, {error_code::parse_error, e.what()}));
    }
    if (!request.is_array()) {
        json response = handle_one(request);
        return response.is_null() ? std::string() : text_of(response);
    }
    if (request.empty())
        return text_of(error_response(nullptr, {error_code::invalid_request, "an empty batch"}));
    json responses = json::array();
    for (const auto& one : request) {
        json response = handle_one(one);
        if (!response.is_null()) responses.push_back(std::move(response));
    }
    return responses.empty() ? std::string() : text_of(responses);
}

} // namespace nvmecuse::rpc
