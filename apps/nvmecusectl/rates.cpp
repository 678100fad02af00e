// The stats rates table (rates.hpp).
#include "rates.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace nvmecusectl {

using nlohmann::json;

namespace {

std::uint64_t counter(const json& node, const char* key)
{
    if (!node.is_object() || !node.contains("stats")) return 0;
    const json& s = node["stats"];
    return s.is_object() && s.contains(key) && s[key].is_number_unsigned() ? s[key].get<std::uint64_t>()
                                                                          : 0;
}

const json* find_node(const json& answer, const std::string& path)
{
    if (!answer.is_array()) return nullptr;
    for (const auto& n : answer)
        if (n.is_object() && n.value("node", "") == path) return &n;
    return nullptr;
}

std::string latency_us(const json& node, const char* key)
{
    if (!node.contains("stats") || !node["stats"].is_object()) return "-";
    const json& s = node["stats"];
    if (!s.contains("latency_ns") || !s["latency_ns"].is_object()) return "-";
    const json& l = s["latency_ns"];
    if (!l.contains("samples") || !l["samples"].is_number() || l["samples"].get<double>() == 0 ||
        !l.contains(key) || !l[key].is_number())
        return "-";
    return fmt::format("{:.0f}", l[key].get<double>() / 1000.0);
}

} // namespace

std::string rates_table(const json& before, const json& after, double seconds)
{
    std::string out = fmt::format("{:<26} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9}\n", "Node", "IOPS",
                                  "Read MB/s", "Write MB/s", "Errors/s", "p50 us", "p99 us");
    if (!after.is_array() || seconds <= 0) return out;
    for (const auto& node : after) {
        if (!node.is_object()) continue;
        const std::string path = node.value("node", "");
        const json* old = find_node(before, path);
        const auto rate = [&](const char* key) {
            const std::uint64_t now = counter(node, key);
            const std::uint64_t then = old != nullptr ? counter(*old, key) : 0;
            return static_cast<double>(now >= then ? now - then : now) / seconds;
        };
        out += fmt::format("{:<26} {:>10.0f} {:>10.2f} {:>10.2f} {:>9.1f} {:>9} {:>9}\n", path,
                           rate("ioctls_answered"), rate("bytes_read") / 1e6,
                           rate("bytes_written") / 1e6, rate("errors"), latency_us(node, "p50"),
                           latency_us(node, "p99"));
    }
    return out;
}

} // namespace nvmecusectl
