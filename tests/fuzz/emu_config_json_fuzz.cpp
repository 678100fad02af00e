// The emulated controller's JSON configuration (transport/emu/config_json.cpp)
// and the byte counts it takes as strings. Invariants:
// - an accepted document writes back out with to_json() (indented and on
//   one line) to a document that parses to the same configuration;
// - an accepted size string names a value that its plain decimal, "N B"
//   and, where exact, "N KiB" / "N kB" spellings give back; a string of
//   plain digits is its own value;
// - a refusal always says why.
//
// Input: one selector byte (0: a size string, else a JSON document), then
// the text.
#include <charconv>
#include <string>
#include <string_view>

#include "nvmecuse/transport/emu/config_json.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse::emu;

void check_size(std::string_view text)
{
    const auto v = parse_size(text);
    if (!v) {
        FUZZ_CHECK(!v.error().empty());
        return;
    }
    const std::string plain = std::to_string(*v);
    FUZZ_CHECK(parse_size(plain) == *v);
    FUZZ_CHECK(parse_size(plain + " B") == *v);
    if (*v % 1024 == 0) FUZZ_CHECK(parse_size(std::to_string(*v / 1024) + "KiB") == *v);
    if (*v % 1000 == 0) FUZZ_CHECK(parse_size(std::to_string(*v / 1000) + " kB") == *v);

    std::string_view digits = text;
    while (!digits.empty() && digits.front() == ' ')
        digits.remove_prefix(1);
    while (!digits.empty() && digits.back() == ' ')
        digits.remove_suffix(1);
    std::uint64_t expected = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), expected);
    if (ec == std::errc{} && end == digits.data() + digits.size()) FUZZ_CHECK(*v == expected);
}

void check_config(std::string_view json)
{
    const auto config = parse_controller_config(json);
    if (!config) {
        FUZZ_CHECK(!config.error().empty());
        return;
    }
    const std::string pretty = to_json(*config);
    const std::string line = to_json(*config, -1);
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    const auto again = parse_controller_config(pretty);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(to_json(*again) == pretty);
    const auto from_line = parse_controller_config(line);
    FUZZ_CHECK(from_line.has_value() && to_json(*from_line) == pretty);
    FUZZ_CHECK(again->namespaces.size() == config->namespaces.size());
    FUZZ_CHECK(again->subsystem_nqn() == config->subsystem_nqn());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] == 0)
        check_size(text);
    else
        check_config(text);
    return 0;
}
