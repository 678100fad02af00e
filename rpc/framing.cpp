// frame(): the end of one JSON value in a stream (framing.hpp).
#include "nvmecuse/rpc/framing.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace nvmecuse::rpc {

namespace {

/// Whether `prefix`, an unfinished value, can still become JSON: the
/// parser's first fault is where the input ends (an open object, array or
/// string), not before.
bool may_continue(std::string_view prefix)
{
    try {
        [[maybe_unused]] const auto value = nlohmann::json::parse(prefix);
    } catch (const nlohmann::json::parse_error& e) {
        return e.byte >= prefix.size();
    } catch (const nlohmann::json::exception&) {
        return false; // a number no double holds (1E777): never readable
    }
    return true;
}

} // namespace

Frame frame(std::string_view buffer)
{
    std::size_t i = 0;
    while (i < buffer.size() && (buffer[i] == ' ' || buffer[i] == '\t' || buffer[i] == '\n' ||
                                 buffer[i] == '\r'))
        ++i;
    if (i == buffer.size()) return {};
    if (buffer[i] != '{' && buffer[i] != '[') return {Frame::Kind::not_json, 0};
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (; i < buffer.size(); ++i) {
        const char c = buffer[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return {Frame::Kind::complete, i + 1};
        }
    }
    if (!may_continue(buffer)) return {Frame::Kind::not_json, 0};
    return {};
}

} // namespace nvmecuse::rpc
