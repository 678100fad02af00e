// nvmecuse-perf's command line and results (apps/nvmecuse-perf): fio's
// names and meanings, readable help and errors, and reads and writes
// reported apart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/nvmecuse-perf/arguments.hpp"
#include "apps/nvmecuse-perf/report.hpp"
#include "command_line.hpp"

namespace nvmecuse::perf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using nvmecuse::test::has_control_characters;

auto parse(std::vector<std::string> words)
{
    return nvmecuse::test::parse_words(parse_arguments, "nvmecuse-perf", std::move(words));
}

TEST(PerfArguments, HelpIsPlainTextWithExamples)
{
    const auto p = parse({"--help"});
    ASSERT_FALSE(p.result);
    EXPECT_EQ(p.result.error(), 0);
    EXPECT_FALSE(has_control_characters(p.out)) << p.out;
    EXPECT_THAT(p.out, HasSubstr("--rw TEXT:{read,write,randread,randwrite,rw,randrw}"));
    EXPECT_THAT(p.out, HasSubstr("--ioctl TEXT:{io64,io,submit-io,admin-identify}"));
    EXPECT_THAT(p.out, HasSubstr("Examples:\n  nvmecuse-perf "));
}

TEST(PerfArguments, WrongRwNamesTheChoicesInFull)
{
    const auto p = parse({"/dev/null", "--rw", "randomread"});
    ASSERT_FALSE(p.result);
    EXPECT_NE(p.result.error(), 0);
    EXPECT_FALSE(has_control_characters(p.err)) << p.err;
    EXPECT_THAT(p.err,
                HasSubstr("--rw: randomread not in {read,write,randread,randwrite,rw,randrw}"));
}

TEST(PerfArguments, FioNamesAndMeanings)
{
    const auto p = parse({"/dev/nvmecuse/nvme0n1", "--rw", "rw", "--numjobs", "3", "--runtime",
                          "2.5", "--number_ios", "1000", "--output-format", "json", "--bs", "8k"});
    ASSERT_TRUE(p.result) << p.err;
    const Job& job = p.result->job;
    EXPECT_EQ(job.pattern, Pattern::rw); // sequential mix, as fio's rw
    EXPECT_EQ(job.threads, 3u);
    EXPECT_DOUBLE_EQ(job.seconds, 2.5);
    EXPECT_EQ(job.ios, 1000u);
    EXPECT_EQ(job.block_size, 8192u);
    EXPECT_TRUE(p.result->json);
    EXPECT_EQ(parse({"/dev/x", "--rw", "randrw"}).result->job.pattern, Pattern::randrw);
    // The earlier spellings stay.
    const auto old = parse({"/dev/x", "--threads", "2", "--time", "1", "--ios", "5", "--json"});
    ASSERT_TRUE(old.result) << old.err;
    EXPECT_EQ(old.result->job.threads, 2u);
    EXPECT_EQ(old.result->job.ios, 5u);
    EXPECT_TRUE(old.result->json);
}

TEST(PerfArguments, NamesRoundTrip)
{
    for (const auto pattern : {Pattern::read, Pattern::write, Pattern::randread, Pattern::randwrite,
                               Pattern::rw, Pattern::randrw}) {
        const auto p = parse({"/dev/x", "--rw", std::string(pattern_name(pattern))});
        ASSERT_TRUE(p.result) << p.err;
        EXPECT_EQ(p.result->job.pattern, pattern);
    }
    const auto p = parse({"/dev/x", "--ioctl", "submit-io"});
    ASSERT_TRUE(p.result) << p.err;
    EXPECT_EQ(p.result->job.ioctl, IoctlKind::submit_io);
    EXPECT_EQ(ioctl_name(IoctlKind::admin_identify), "admin-identify");
}

TEST(PerfArguments, ByteCountErrors)
{
    auto p = parse({"/dev/x", "--bs", "4q"});
    ASSERT_FALSE(p.result);
    EXPECT_EQ(p.err, "nvmecuse-perf: --bs 4q: expected a number with k, m or g\n");
    p = parse({"/dev/x", "--bs", "128m"});
    EXPECT_EQ(p.err, "nvmecuse-perf: --bs must be 1 byte .. 64 MiB\n");
    p = parse({"/dev/x", "--size", "-1"});
    EXPECT_EQ(p.err, "nvmecuse-perf: --size -1: expected a number with k, m or g\n");
}

TEST(PerfArguments, Version)
{
    const auto p = parse({"--version"});
    ASSERT_FALSE(p.result);
    EXPECT_EQ(p.result.error(), 0);
    EXPECT_EQ(p.out, std::string("nvmecuse-perf ") + NVMECUSE_VERSION + "\n");
}

TEST(PerfReport, MixedRunsReportReadsAndWritesApart)
{
    Job job;
    job.device = "/dev/x";
    job.pattern = Pattern::randrw;
    RunResult run;
    run.seconds = 2;
    run.cpu_seconds = 0.5;
    for (int i = 0; i < 30; ++i)
        run.total.read.latency.record(10'000);
    run.total.read.ios = 30;
    run.total.read.bytes = 30 * 4096;
    for (int i = 0; i < 10; ++i)
        run.total.write.latency.record(40'000);
    run.total.write.ios = 10;
    run.total.write.bytes = 10 * 4096;

    const auto j = json_report(job, run);
    EXPECT_EQ(j["rw"], "randrw");
    EXPECT_EQ(j["ios"], 40u);
    EXPECT_DOUBLE_EQ(j["iops"].get<double>(), 20.0);
    EXPECT_DOUBLE_EQ(j["cpu_us_per_io"].get<double>(), 12500.0);
    EXPECT_EQ(j["read"]["ios"], 30u);
    EXPECT_DOUBLE_EQ(j["read"]["iops"].get<double>(), 15.0);
    EXPECT_EQ(j["read"]["latency_ns"]["max"], 10'000u);
    EXPECT_EQ(j["write"]["ios"], 10u);
    EXPECT_EQ(j["write"]["latency_ns"]["min"], 40'000u);
    EXPECT_EQ(j["latency_ns"]["max"], 40'000u); // the whole run
    EXPECT_TRUE(j["error"].is_null());

    const std::string text = text_report(job, run);
    EXPECT_THAT(text, HasSubstr("  read   IOPS 15 "));
    EXPECT_THAT(text, HasSubstr("  write  IOPS 5 "));
}

TEST(PerfReport, OneDirectionOneLine)
{
    Job job;
    job.pattern = Pattern::randread;
    RunResult run;
    run.seconds = 1;
    run.total.read.latency.record(1000);
    run.total.read.ios = 1;
    run.total.read.bytes = 4096;
    const std::string text = text_report(job, run);
    EXPECT_THAT(text, HasSubstr("  read   IOPS 1 "));
    EXPECT_THAT(text, Not(HasSubstr("write")));
    EXPECT_EQ(json_report(job, run)["write"]["ios"], 0u);
}

} // namespace
} // namespace nvmecuse::perf
