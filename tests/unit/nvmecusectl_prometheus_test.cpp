// nvmecusectl stats --prometheus (apps/nvmecusectl/prometheus.cpp): the
// stats answer in the Prometheus text exposition format.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "apps/nvmecusectl/prometheus.hpp"

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

TEST(NvmecusectlPrometheus, LabelValuesAreEscapedAndNothingGivesNothing)
{
    EXPECT_EQ(nvmecusectl::prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    const std::string text = nvmecusectl::prometheus_text(json::array({node("My \"disk\"", "/dev/x", 1, 0)}));
    EXPECT_NE(text.find("{controller=\"My \\\"disk\\\"\",node=\"/dev/x\"} 1\n"), std::string::npos) << text;
    EXPECT_EQ(nvmecusectl::prometheus_text(json::array()), "");
}

} // namespace
