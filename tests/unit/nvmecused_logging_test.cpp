// nvmecused's log format (apps/nvmecused/logging.cpp): journald's priority
// prefixes when stderr is the journal, timestamps otherwise, and the
// JOURNAL_STREAM check that chooses between them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "nvmecuse/logging.hpp"

#include "apps/nvmecused/logging.hpp"

namespace {

using ::testing::MatchesRegex;

std::string formatted(bool journal, spdlog::level::level_enum level, const char* logger,
                      const char* text)
{
    const spdlog::details::log_msg msg(logger, level, text);
    spdlog::memory_buf_t out;
    nvmecused::make_formatter(journal)->format(msg, out);
    return fmt::to_string(out);
}

TEST(NvmecusedLogging, JournalLinesCarryTheSyslogPriority)
{
    EXPECT_EQ(formatted(true, spdlog::level::err, "ctrlr", "boom"), "<3>ctrlr: boom\n");
    EXPECT_EQ(formatted(true, spdlog::level::warn, "tcp", "slow"), "<4>tcp: slow\n");
    EXPECT_EQ(formatted(true, spdlog::level::info, "nvmecused", "up"), "<6>nvmecused: up\n");
    EXPECT_EQ(formatted(true, spdlog::level::debug, "emu", "x"), "<7>emu: x\n");
    EXPECT_EQ(formatted(true, spdlog::level::critical, "emu", "y"), "<2>emu: y\n");
}

TEST(NvmecusedLogging, TextLinesCarryTimeCategoryAndLevel)
{
    EXPECT_THAT(
        formatted(false, spdlog::level::err, "ctrlr", "boom"),
        MatchesRegex(R"(\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]{12}\] \[ctrlr\] \[error\] boom)"
                     "\n"));
}

TEST(NvmecusedLogging, JournalStreamMustNameStderrsFile)
{
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    struct stat st {};
    ASSERT_EQ(::fstat(fds[1], &st), 0);
    const std::string same = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
    EXPECT_TRUE(nvmecused::is_journal_stream(same.c_str(), fds[1]));
    EXPECT_FALSE(nvmecused::is_journal_stream(other.c_str(), fds[1]));
    EXPECT_FALSE(nvmecused::is_journal_stream(nullptr, fds[1]));
    EXPECT_FALSE(nvmecused::is_journal_stream("", fds[1]));
    EXPECT_FALSE(nvmecused::is_journal_stream((same + "x").c_str(), fds[1]));
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(NvmecusedLogging, CategoriesShareOneStderrSink)
{
    const auto a = nvmecuse::logging::category("test-a");
    const auto b = nvmecuse::logging::category("test-b");
    EXPECT_EQ(nvmecuse::logging::category("test-a"), a);
    ASSERT_EQ(a->sinks().size(), 1u);
    ASSERT_EQ(b->sinks().size(), 1u);
    EXPECT_EQ(a->sinks()[0], b->sinks()[0]);
    EXPECT_EQ(a->sinks()[0], nvmecuse::logging::shared_sink());
}

} // namespace
