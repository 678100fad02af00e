// What the command-line tests of the programs share: running a parser on a
// list of words with stdout and stderr captured, and the check that what a
// program prints holds no control characters.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace nvmecuse::test {

/// What a parser returned and printed.
template <class Result> struct Parsed {
    Result result;
    std::string out;
    std::string err;
};

/// Calls `parse(argc, argv)` on `program` followed by `words`, capturing
/// stdout (--help, --version) and stderr (errors).
template <class Parse>
auto parse_words(Parse parse, const char* program, std::vector<std::string> words)
    -> Parsed<decltype(parse(0, nullptr))>
{
    words.insert(words.begin(), program);
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    auto result = parse(static_cast<int>(words.size()), argv.data());
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {std::move(result), std::move(out), std::move(err)};
}

/// True when `text` holds a byte that is neither printable ASCII nor a newline.
inline bool has_control_characters(const std::string& text)
{
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\n') || u == 0x7f;
    });
}

} // namespace nvmecuse::test
