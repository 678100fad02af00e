// nvmecusectl stats --prometheus (apps/nvmecusectl/prometheus.cpp): the
// stats answer in the Prometheus text exposition format.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "apps/nvmecusectl/prometheus.hpp"
#include "apps/nvmecusectl/rates.hpp"

namespace {

using nlohmann::json;

json node(const char* controller, const char* path, std::uint64_t ioctls, std::uint64_t in_flight)
{
    return json{{"controller", controller},
                {"node", path},
                {"stats", {{"ioctls_answered", ioctls}, {"in_flight", in_flight}, {"commands", ioctls + 1}}}};
}

TEST(NvmecusectlPrometheus, OneFamilyPerCounterWithASamplePerNode)
{
    const json stats = json::array({node("nvme0", "/dev/nvmecuse/nvme0", 7, 0),
                                    node("nvme0", "/dev/nvmecuse/nvme0n1", 1234567890123, 3)});
    const std::string text = nvmecusectl::prometheus_text(stats);
    EXPECT_NE(text.find("# TYPE nvmecuse_ioctls_answered_total counter\n"
                        "nvmecuse_ioctls_answered_total{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0\"} 7\n"
                        "nvmecuse_ioctls_answered_total{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0n1\"} "
                        "1234567890123\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("# TYPE nvmecuse_in_flight gauge\n"
                        "nvmecuse_in_flight{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0\"} 0\n"
                        "nvmecuse_in_flight{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0n1\"} 3\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("nvmecuse_commands_total{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0\"} 8\n"),
              std::string::npos);
    // Counters the answer does not carry have no family at all.
    EXPECT_EQ(text.find("nvmecuse_retries_total"), std::string::npos) << text;

    // Every line is a comment of the format or a sample: name{labels} value.
    const std::regex sample(R"re([a-z_]+\{controller="[^"]*",node="[^"]*"\} [0-9]+)re");
    const std::regex comment(R"re(# (HELP [a-z_]+ .+|TYPE [a-z_]+ (counter|gauge)))re");
    std::istringstream lines(text);
    int samples = 0;
    for (std::string line; std::getline(lines, line);) {
        const bool is_sample = std::regex_match(line, sample);
        EXPECT_TRUE(is_sample || std::regex_match(line, comment)) << line;
        samples += is_sample;
    }
    EXPECT_EQ(samples, 6);
    EXPECT_EQ(text.back(), '\n');
}

TEST(NvmecusectlPrometheus, SampledLatencyIsOneSummaryInSeconds)
{
    json with = node("nvme0", "/dev/nvmecuse/nvme0n1", 640, 0);
    with["stats"]["latency_ns"] = {{"samples", 10}, {"p50", 150000}, {"p90", 180000},
                                   {"p99", 250000},  {"p99_9", 250000}, {"max", 251000},
                                   {"sum", 1600000}};
    const std::string text =
        nvmecusectl::prometheus_text(json::array({with, node("nvme0", "/dev/nvmecuse/nvme0", 7, 0)}));
    const std::string labels = "controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0n1\"";
    EXPECT_NE(text.find("# TYPE nvmecuse_ioctl_latency_seconds summary\n"
                        "nvmecuse_ioctl_latency_seconds{" + labels + ",quantile=\"0.5\"} 0.000150000\n"
                        "nvmecuse_ioctl_latency_seconds{" + labels + ",quantile=\"0.9\"} 0.000180000\n"
                        "nvmecuse_ioctl_latency_seconds{" + labels + ",quantile=\"0.99\"} 0.000250000\n"
                        "nvmecuse_ioctl_latency_seconds{" + labels + ",quantile=\"0.999\"} 0.000250000\n"
                        "nvmecuse_ioctl_latency_seconds_sum{" + labels + "} 0.001600000\n"
                        "nvmecuse_ioctl_latency_seconds_count{" + labels + "} 10\n"),
              std::string::npos)
        << text;
    // A node whose answer has no latency object gets no summary sample.
    EXPECT_EQ(text.find("nvmecuse_ioctl_latency_seconds_count{controller=\"nvme0\",node=\"/dev/nvmecuse/nvme0\"}"),
              std::string::npos)
        << text;
}

json counters(const char* path, std::uint64_t ioctls, std::uint64_t read, std::uint64_t written,
              std::uint64_t errors)
{
    return json{{"controller", "nvme0"},
                {"node", path},
                {"stats",
                 {{"ioctls_answered", ioctls},
                  {"bytes_read", read},
                  {"bytes_written", written},
                  {"errors", errors}}}};
}

TEST(NvmecusectlStatsInterval, RatesAreTheCountersGrowthOverTheInterval)
{
    const json before = json::array({counters("/dev/nvmecuse/nvme0n1", 1000, 4'000'000, 0, 2),
                                     counters("/dev/nvmecuse/nvme0", 5, 0, 0, 0)});
    json grown = counters("/dev/nvmecuse/nvme0n1", 21000, 84'000'000, 8'000'000, 12);
    grown["stats"]["latency_ns"] = {{"samples", 300}, {"p50", 150400}, {"p99", 480000}};
    const json after = json::array({grown, counters("/dev/nvmecuse/nvme0", 3, 0, 0, 0),
                                    counters("/dev/nvmecuse/nvme1n1", 50, 0, 0, 0)});
    const std::string table = nvmecusectl::rates_table(before, after, 2.0);
    std::istringstream lines(table);
    std::string header, ns, ctrl, fresh;
    std::getline(lines, header);
    std::getline(lines, ns);
    std::getline(lines, ctrl);
    std::getline(lines, fresh);
    EXPECT_NE(header.find("IOPS"), std::string::npos) << table;
    // 20000 ioctls, 80 MB read, 8 MB written and 10 errors in 2 s; latency in µs.
    const std::regex ns_row(R"(/dev/nvmecuse/nvme0n1 +10000 +40\.00 +4\.00 +5\.0 +150 +480)");
    EXPECT_TRUE(std::regex_search(ns, ns_row)) << table;
    // A counter that went down (the node was made again) counts from zero;
    // no latency samples is "-".
    const std::regex ctrl_row(R"(/dev/nvmecuse/nvme0 +2 +0\.00 +0\.00 +0\.0 +- +-)");
    EXPECT_TRUE(std::regex_search(ctrl, ctrl_row)) << table;
    // A node that was not there before counts from zero.
    EXPECT_TRUE(std::regex_search(fresh, std::regex(R"(/dev/nvmecuse/nvme1n1 +25 )"))) << table;
}

TEST(NvmecusectlPrometheus, LabelValuesAreEscapedAndNothingGivesNothing)
{
    EXPECT_EQ(nvmecusectl::prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    const std::string text = nvmecusectl::prometheus_text(json::array({node("My \"disk\"", "/dev/x", 1, 0)}));
    EXPECT_NE(text.find("{controller=\"My \\\"disk\\\"\",node=\"/dev/x\"} 1\n"), std::string::npos) << text;
    EXPECT_EQ(nvmecusectl::prometheus_text(json::array()), "");
}

} // namespace
