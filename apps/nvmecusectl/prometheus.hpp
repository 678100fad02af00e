// nvmecusectl stats --prometheus: the stats method's answer in the
// Prometheus text exposition format (version 0.0.4), for node_exporter's
// textfile collector.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nvmecusectl {

/// One metric family per counter of a node ("# HELP", "# TYPE", then a
/// sample per node labelled controller="<name>",node="<path>"): the
/// cumulative ones as counters named nvmecuse_<key>_total, in_flight and
/// in_flight_bytes as gauges. `stats` is the stats method's answer
/// ([{"controller", "node", "stats": {...}}]); a counter a node lacks has
/// no sample for it. Pure.
[[nodiscard]] std::string prometheus_text(const nlohmann::json& stats);

/// A label value escaped as the format asks: backslash, double quote and
/// line feed as \\, \" and \n. Pure.
[[nodiscard]] std::string prometheus_label(const std::string& value);

} // namespace nvmecusectl
