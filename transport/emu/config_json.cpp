#include "nvmecuse/transport/emu/config_json.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "nvmecuse/transport/emu/config_check.hpp"

namespace nvmecuse::emu {
namespace {

// ordered_json keeps the document's key order: errors name the first
// offending key as written and to_json() prints the fields in struct order.
using Json = nlohmann::ordered_json;

/// How a field is written in JSON. Byte counts also take size strings.
enum class Kind { plain, byte_count };

/// No bound on an integer field beyond its C++ type's.
constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();

// The one list of fields. Parsing, the unknown-key check and to_json() all
// walk it, so a field added here is handled everywhere at once. A fourth
// argument bounds an integer field more tightly than its C++ type.
template <class Ns, class Visit>
requires std::is_same_v<std::remove_const_t<Ns>, NamespaceConfig>
void for_each_field(Ns& ns, Visit&& visit)
{
    visit("nsid", ns.nsid, Kind::plain);
    visit("size_bytes", ns.size_bytes, Kind::byte_count);
    visit("lba_data_size", ns.lba_data_size, Kind::byte_count);
    visit("metadata_size", ns.metadata_size, Kind::byte_count);
    visit("extended_metadata", ns.extended_metadata, Kind::plain);
    visit("backing_file", ns.backing_file, Kind::plain);
    visit("attached", ns.attached, Kind::plain);
}

template <class Ctrl, class Visit>
requires std::is_same_v<std::remove_const_t<Ctrl>, ControllerConfig>
void for_each_field(Ctrl& c, Visit&& visit)
{
    visit("model", c.model, Kind::plain);
    visit("serial", c.serial, Kind::plain);
    visit("firmware", c.firmware, Kind::plain);
    visit("vid", c.vid, Kind::plain);
    visit("ssvid", c.ssvid, Kind::plain);
    visit("ieee_oui", c.ieee_oui, Kind::plain, std::uint64_t{0xffffff}); // 24 bits
    visit("cntlid", c.cntlid, Kind::plain);
    visit("subnqn", c.subnqn, Kind::plain);
    visit("mdts", c.mdts, Kind::plain, std::uint64_t{max_mdts});
    visit("sgls", c.sgls, Kind::plain);
    visit("max_namespaces", c.max_namespaces, Kind::plain);
    visit("total_capacity_bytes", c.total_capacity_bytes, Kind::byte_count);
    visit("max_io_queues", c.max_io_queues, Kind::plain);
    visit("max_queue_entries", c.max_queue_entries, Kind::plain);
    visit("aerl", c.aerl, Kind::plain);
    visit("firmware_slots", c.firmware_slots, Kind::plain);
    visit("slot1_read_only", c.slot1_read_only, Kind::plain);
    visit("temperature_kelvin", c.temperature_kelvin, Kind::plain);
    visit("warning_temperature_kelvin", c.warning_temperature_kelvin, Kind::plain);
    visit("critical_temperature_kelvin", c.critical_temperature_kelvin, Kind::plain);
    visit("extended_self_test_minutes", c.extended_self_test_minutes, Kind::plain);
    visit("short_self_test_ms", c.short_self_test_ms, Kind::plain);
    visit("namespaces", c.namespaces, Kind::plain);
}

template <class Config> std::vector<std::string_view> field_names()
{
    std::vector<std::string_view> names;
    Config scratch{};
    for_each_field(scratch, [&](std::string_view name, auto&, Kind, std::uint64_t = no_limit) {
        names.push_back(name);
    });
    return names;
}

// ---- JSON paths ("$.namespaces[1].size_bytes") ----

bool is_identifier(std::string_view key)
{
    if (key.empty()) return false;
    for (const char ch : key) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '_';
        if (!ok) return false;
    }
    return true;
}

std::string member_path(const std::string& parent, std::string_view key)
{
    if (is_identifier(key)) return parent + "." + std::string(key);
    return parent + "[" + Json(std::string(key)).dump() + "]";
}

std::string element_path(const std::string& parent, std::size_t index)
{
    return parent + "[" + std::to_string(index) + "]";
}

/// The value as it appears in an error message, shortened.
std::string describe(const Json& value)
{
    if (value.is_object() || value.is_array() || value.is_null()) return value.type_name();
    std::string text = value.dump();
    constexpr std::size_t max_len = 40;
    if (text.size() > max_len) text = text.substr(0, max_len) + "...";
    return std::string(value.type_name()) + " " + text;
}

std::string json_quoted(std::string_view text)
{
    // parse_size() quotes what it was given, which need not be UTF-8:
    // replace bad bytes (U+FFFD) instead of throwing type_error 316.
    return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---- duplicate keys ----

/// nlohmann keeps the last of two equal keys without a word; a key given
/// twice is as likely a mistake as a typo, so the parse callback finds it.
class DuplicateKeyFinder {
public:
    bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed)
    {
        using Event = Json::parse_event_t;
        switch (event) {
        case Event::object_start:
            begin_value();
            frames_.push_back(Frame{});
            break;
        case Event::array_start:
            begin_value();
            frames_.push_back(Frame{});
            frames_.back().array = true;
            break;
        case Event::key: {
            Frame& top = frames_.back();
            top.key = parsed.get<std::string>();
            if (!top.keys.insert(top.key).second && !error_)
                error_ = path_of_top() + ": duplicate key " + json_quoted(top.key);
            break;
        }
        case Event::value:
            begin_value();
            break;
        case Event::object_end:
        case Event::array_end:
            frames_.pop_back();
            break;
        }
        return true;
    }

    [[nodiscard]] const std::optional<std::string>& error() const { return error_; }

private:
    struct Frame {
        bool array = false;
        std::size_t next_index = 0;
        std::string key; // the key whose value is being parsed (objects)
        std::unordered_set<std::string> keys;
    };

    void begin_value()
    {
        if (!frames_.empty() && frames_.back().array) ++frames_.back().next_index;
    }

    /// Path of the innermost open object or array.
    [[nodiscard]] std::string path_of_top() const
    {
        std::string path = "$";
        for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
            const Frame& f = frames_[i];
            path = f.array ? element_path(path, f.next_index - 1) : member_path(path, f.key);
        }
        return path;
    }

    std::vector<Frame> frames_;
    std::optional<std::string> error_;
};

// ---- values ----

using Result = std::expected<void, std::string>;

/// A non-negative integral JSON number (1e9 counts; 1.5 and -1 do not).
std::optional<std::uint64_t> as_unsigned(const Json& value)
{
    if (value.is_number_unsigned()) return value.get<std::uint64_t>();
    if (value.is_number_float()) {
        const double d = value.get<double>();
        // 2^64 is exactly representable; everything below it that is whole converts exactly.
        if (std::isfinite(d) && d >= 0 && d < 18446744073709551616.0 && d == std::floor(d))
            return static_cast<std::uint64_t>(d);
    }
    return std::nullopt;
}

template <class T>
Result store_in_range(std::uint64_t number, std::string_view shown, const std::string& path, T& out)
{
    constexpr std::uint64_t max = std::numeric_limits<T>::max();
    if (number > max)
        return std::unexpected(path + ": " + std::string(shown) + " is out of range (0.." +
                               std::to_string(max) + ")");
    out = static_cast<T>(number);
    return {};
}

template <class T>
Result read_unsigned(const Json& value, const std::string& path, Kind kind, T& out)
{
    if (auto number = as_unsigned(value)) return store_in_range(*number, value.dump(), path, out);
    if (kind == Kind::byte_count && value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        auto bytes = parse_size(text);
        if (!bytes)
            return std::unexpected(path + ": invalid size " + json_quoted(text) + ": " +
                                   bytes.error());
        return store_in_range(*bytes, json_quoted(text) + " (" + std::to_string(*bytes) + " bytes)",
                              path, out);
    }
    const bool whole_number = value.is_number_integer() ||
                              (value.is_number_float() && std::isfinite(value.get<double>()) &&
                               value.get<double>() == std::floor(value.get<double>()));
    if (whole_number) {
        // Negative, or too large for any field.
        return std::unexpected(path + ": " + value.dump() + " is out of range (0.." +
                               std::to_string(std::numeric_limits<T>::max()) + ")");
    }
    const char* expected = kind == Kind::byte_count
                               ? "expected a size (an integer or a string such as \"1GiB\")"
                               : "expected an unsigned integer";
    return std::unexpected(path + ": " + expected + ", got " + describe(value));
}

Result read_field(const Json& value, const std::string& path, Kind /*kind*/, std::string& out)
{
    if (!value.is_string())
        return std::unexpected(path + ": expected a string, got " + describe(value));
    out = value.get<std::string>();
    return {};
}

Result read_field(const Json& value, const std::string& path, Kind /*kind*/, bool& out)
{
    if (!value.is_boolean())
        return std::unexpected(path + ": expected true or false, got " + describe(value));
    out = value.get<bool>();
    return {};
}

template <class T>
requires std::is_unsigned_v<T> &&(!std::is_same_v<T, bool>)Result
    read_field(const Json& value, const std::string& path, Kind kind, T& out)
{
    return read_unsigned(value, path, kind, out);
}

Result read_field(const Json& value, const std::string& path, Kind kind,
                  std::vector<NamespaceConfig>& out);

/// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string unknown_key(const std::string& path, std::string_view key,
                        const std::vector<std::string_view>& known)
{
    std::string message = path + ": unknown key " + json_quoted(key);
    std::string_view closest;
    std::size_t best = 3; // suggest only close misspellings
    for (const std::string_view name : known) {
        const std::size_t d = edit_distance(key, name);
        if (d < best) {
            best = d;
            closest = name;
        }
    }
    if (!closest.empty()) message += " (did you mean " + json_quoted(closest) + "?)";
    return message;
}

/// Reads an object into `config`, key by key in document order, so the
/// first mistake in the file is the one reported.
template <class Config>
Result read_object(const Json& object, const std::string& path, Config& config)
{
    if (!object.is_object())
        return std::unexpected(path + ": expected an object, got " + describe(object));

    static const std::vector<std::string_view> known = field_names<Config>();
    for (const auto& [key, value] : object.items()) {
        bool found = false;
        Result result;
        for_each_field(config, [&](std::string_view name, auto& field, Kind kind,
                                   std::uint64_t max = no_limit) {
            if (found || name != key) return;
            found = true;
            const std::string field_path = member_path(path, name);
            result = read_field(value, field_path, kind, field);
            using Field = std::remove_cvref_t<decltype(field)>;
            if constexpr (std::is_unsigned_v<Field> && !std::is_same_v<Field, bool>) {
                if (result && field > max)
                    result = std::unexpected(field_path + ": " + value.dump() +
                                             " is out of range (0.." + std::to_string(max) + ")");
            }
        });
        if (!found) return std::unexpected(unknown_key(path, key, known));
        if (!result) return result;
    }
    return {};
}

Result read_field(const Json& value, const std::string& path, Kind /*kind*/,
                  std::vector<NamespaceConfig>& out)
{
    if (!value.is_array())
        return std::unexpected(path + ": expected an array, got " + describe(value));
    std::vector<NamespaceConfig> namespaces(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto r = read_object(value[i], element_path(path, i), namespaces[i]); !r) return r;
    }
    out = std::move(namespaces);
    return {};
}

// ---- writing ----

template <class Config> Json write_object(const Config& config)
{
    Json object = Json::object();
    for_each_field(config, [&](std::string_view name, const auto& field, Kind,
                               std::uint64_t = no_limit) {
        using Field = std::remove_cvref_t<decltype(field)>;
        if constexpr (std::is_same_v<Field, std::vector<NamespaceConfig>>) {
            Json array = Json::array();
            for (const NamespaceConfig& ns : field)
                array.push_back(write_object(ns));
            object[std::string(name)] = std::move(array);
        } else if constexpr (std::is_same_v<Field, bool> || std::is_same_v<Field, std::string>) {
            object[std::string(name)] = field;
        } else {
            // Widen so that std::uint8_t is written as a number, never a char.
            object[std::string(name)] = static_cast<std::uint64_t>(field);
        }
    });
    return object;
}

// ---- sizes ----

struct Unit {
    std::string_view name; // lower case
    std::uint64_t multiplier;
};

constexpr std::uint64_t pow_u64(std::uint64_t base, unsigned exp)
{
    std::uint64_t r = 1;
    while (exp-- > 0)
        r *= base;
    return r;
}

constexpr std::array<Unit, 14> units{{
    {"", 1},
    {"b", 1},
    {"kb", pow_u64(1000, 1)},
    {"mb", pow_u64(1000, 2)},
    {"gb", pow_u64(1000, 3)},
    {"tb", pow_u64(1000, 4)},
    {"pb", pow_u64(1000, 5)},
    {"eb", pow_u64(1000, 6)},
    {"kib", pow_u64(1024, 1)},
    {"mib", pow_u64(1024, 2)},
    {"gib", pow_u64(1024, 3)},
    {"tib", pow_u64(1024, 4)},
    {"pib", pow_u64(1024, 5)},
    {"eib", pow_u64(1024, 6)},
}};

std::string lower(std::string_view text)
{
    std::string out(text);
    for (char& ch : out)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return out;
}

bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

} // namespace

std::expected<std::uint64_t, std::string> parse_size(std::string_view text)
{
    while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ')
        text.remove_suffix(1);
    if (text.empty()) return std::unexpected("empty");

    // Digits of the integer part, then of the fraction, as one integer
    // `mantissa` with `fraction_digits` places after the point.
    std::size_t pos = 0;
    std::string digits;
    while (pos < text.size() && is_digit(text[pos]))
        digits += text[pos++];
    if (digits.empty()) return std::unexpected("expected a number before the unit");
    std::size_t fraction_digits = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        for (; pos < text.size() && is_digit(text[pos]); ++pos, ++fraction_digits)
            digits += text[pos];
        if (fraction_digits == 0) return std::unexpected("expected digits after the decimal point");
    }
    while (fraction_digits > 0 && digits.back() == '0') {
        digits.pop_back();
        --fraction_digits;
    }
    while (pos < text.size() && text[pos] == ' ')
        ++pos;

    const std::string_view unit_text = text.substr(pos);
    const std::string unit = lower(unit_text);
    const Unit* found = nullptr;
    for (const Unit& u : units)
        if (u.name == unit) found = &u;
    if (found == nullptr) {
        if (unit.size() == 1 &&
            std::string_view("kmgtpe").find(unit[0]) != std::string_view::npos) {
            const char upper = static_cast<char>(unit[0] - 'a' + 'A');
            const std::string decimal = std::string(1, unit[0] == 'k' ? 'k' : upper) + "B";
            const std::string binary = std::string(1, upper) + "iB";
            return std::unexpected("ambiguous unit " + json_quoted(unit_text) + ": write " +
                                   json_quoted(decimal) + " (powers of 1000) or " +
                                   json_quoted(binary) + " (powers of 1024)");
        }
        return std::unexpected("unknown unit " + json_quoted(unit_text) +
                               " (use B, kB, MB, GB, TB, PB, EB, KiB, MiB, GiB, TiB, PiB or EiB)");
    }

    constexpr const char* too_large = "too large (the maximum is 18446744073709551615 bytes)";
    if (fraction_digits > 18) return std::unexpected("too many digits after the decimal point");
    std::uint64_t mantissa = 0;
    for (const char ch : digits) {
        if (__builtin_mul_overflow(mantissa, 10u, &mantissa) ||
            __builtin_add_overflow(mantissa, static_cast<unsigned>(ch - '0'), &mantissa))
            return std::unexpected(too_large);
    }
    std::uint64_t scaled = 0;
    if (__builtin_mul_overflow(mantissa, found->multiplier, &scaled))
        return std::unexpected(too_large);
    const std::uint64_t divisor = pow_u64(10, static_cast<unsigned>(fraction_digits));
    if (scaled % divisor != 0) return std::unexpected("not a whole number of bytes");
    return scaled / divisor;
}

std::expected<ControllerConfig, std::string> parse_controller_config(std::string_view json)
{
    DuplicateKeyFinder duplicates;
    Json document;
    try {
        document = Json::parse(json.begin(), json.end(), std::ref(duplicates));
    } catch (const Json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 2: …";
        // a number too large for a double is out_of_range.406, not a parse_error.
        std::string_view what = e.what();
        if (const auto end = what.find("] ");
            what.starts_with("[json.exception") && end != what.npos)
            what.remove_prefix(end + 2);
        return std::unexpected("invalid JSON: " + std::string(what));
    }
    if (duplicates.error()) return std::unexpected(*duplicates.error());

    ControllerConfig config;
    if (auto r = read_object(document, "$", config); !r) return std::unexpected(r.error());
    return config;
}

std::expected<ControllerConfig, std::string>
load_controller_config(const std::filesystem::path& path)
{
    const auto failure = [&](const std::string& why) {
        return std::unexpected(path.string() + ": " + why);
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return failure(std::system_category().message(errno));

    // A configuration is a few kilobytes; the cap keeps a wrong path such as
    // /dev/zero from eating the daemon's memory.
    constexpr std::size_t max_size = 16u << 20;
    std::string text;
    char chunk[8192];
    int read_errno = 0;
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            read_errno = errno;
            break;
        }
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
        if (text.size() > max_size) {
            ::close(fd);
            return failure("larger than 16 MiB, not a configuration file");
        }
    }
    ::close(fd);
    if (read_errno != 0) return failure(std::system_category().message(read_errno));

    auto config = parse_controller_config(text);
    if (!config) return failure(config.error());
    if (auto checked = check_controller_config(*config, host_memory_bytes()); !checked)
        return failure(checked.error());
    if (auto checked = check_backing_directories(*config); !checked)
        return failure(checked.error());
    return config;
}

std::string to_json(const ControllerConfig& config, int indent)
{
    return write_object(config).dump(indent);
}

} // namespace nvmecuse::emu
