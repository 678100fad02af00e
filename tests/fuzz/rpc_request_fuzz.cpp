// The control socket's request path (rpc/framing.cpp, rpc/dispatcher.cpp)
// as a local peer's byte stream reaches it. Invariants:
// - frame() never reads past the buffer: a complete frame ends inside it,
//   after at least one byte, on the bracket that closes the value; the
//   stream is consumed frame by frame;
// - Dispatcher::handle() never throws, and answers every framed text with
//   nothing (notifications only) or JSON-RPC 2.0: a response object, or a
//   non-empty array of them, each with "jsonrpc": "2.0" and exactly one of
//   "result" and "error" (whose "code" is an integer); a framed text that
//   is not JSON is answered with one parse error (-32700);
// - a handler that throws nlohmann's exceptions yields invalid_params.
//
// Input: the bytes a client sends, as one stream.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/rpc/framing.hpp"

#include "fuzz_check.hpp"

namespace {

using nlohmann::json;
using namespace nvmecuse::rpc;

const Dispatcher& dispatcher()
{
    static const Dispatcher d = [] {
        Dispatcher made;
        made.add("echo", [](const json& params) -> std::expected<json, Error> { return params; });
        // Throws nlohmann's type and out-of-range errors on odd params.
        made.add("typed", [](const json& params) -> std::expected<json, Error> {
            return json(params.at("n").get<int>() + 1);
        });
        made.add("refuse", [](const json&) -> std::expected<json, Error> {
            return std::unexpected(Error{error_code::invalid_params, "refused"});
        });
        return made;
    }();
    return d;
}

void check_response(const json& r)
{
    FUZZ_CHECK(r.is_object());
    FUZZ_CHECK(r.contains("jsonrpc") && r["jsonrpc"] == "2.0");
    FUZZ_CHECK(r.contains("result") != r.contains("error"));
    if (r.contains("error")) FUZZ_CHECK(r["error"].contains("code") && r["error"]["code"].is_number_integer());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view stream(reinterpret_cast<const char*>(data), size);
    while (!stream.empty()) {
        const Frame f = frame(stream);
        if (f.kind != Frame::Kind::complete) break;
        FUZZ_CHECK(f.end > 0 && f.end <= stream.size());
        const std::string_view text = stream.substr(0, f.end);
        FUZZ_CHECK(text.back() == '}' || text.back() == ']');
        const std::string answer = dispatcher().handle(text);
        if (!json::accept(text)) {
            FUZZ_CHECK(json::accept(answer));
            const json r = json::parse(answer);
            check_response(r);
            FUZZ_CHECK(r["error"]["code"] == error_code::parse_error);
            stream.remove_prefix(f.end);
            continue;
        }
        if (!answer.empty()) {
            FUZZ_CHECK(json::accept(answer));
            const json r = json::parse(answer);
            if (r.is_array()) {
                FUZZ_CHECK(!r.empty());
                for (const auto& one : r)
                    check_response(one);
            } else {
                check_response(r);
            }
        }
        stream.remove_prefix(f.end);
    }
    return 0;
}
