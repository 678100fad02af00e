// The emulated controller's JSON configuration: defaults, round trips, sizes
// with units, and an error that names the path for every way a file can be
// wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nvmecuse/transport/emu/config_json.hpp"

namespace nvmecuse::emu {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

void expect_same(const NamespaceConfig& a, const NamespaceConfig& b)
{
    EXPECT_EQ(a.nsid, b.nsid);
    EXPECT_EQ(a.size_bytes, b.size_bytes);
    EXPECT_EQ(a.lba_data_size, b.lba_data_size);
    EXPECT_EQ(a.metadata_size, b.metadata_size);
    EXPECT_EQ(a.extended_metadata, b.extended_metadata);
    EXPECT_EQ(a.backing_file, b.backing_file);
    EXPECT_EQ(a.attached, b.attached);
}

void expect_same(const ControllerConfig& a, const ControllerConfig& b)
{
    EXPECT_EQ(a.model, b.model);
    EXPECT_EQ(a.serial, b.serial);
    EXPECT_EQ(a.firmware, b.firmware);
    EXPECT_EQ(a.vid, b.vid);
    EXPECT_EQ(a.ssvid, b.ssvid);
    EXPECT_EQ(a.ieee_oui, b.ieee_oui);
    EXPECT_EQ(a.cntlid, b.cntlid);
    EXPECT_EQ(a.subnqn, b.subnqn);
    EXPECT_EQ(a.mdts, b.mdts);
    EXPECT_EQ(a.sgls, b.sgls);
    EXPECT_EQ(a.max_namespaces, b.max_namespaces);
    EXPECT_EQ(a.total_capacity_bytes, b.total_capacity_bytes);
    EXPECT_EQ(a.max_io_queues, b.max_io_queues);
    EXPECT_EQ(a.max_queue_entries, b.max_queue_entries);
    EXPECT_EQ(a.aerl, b.aerl);
    EXPECT_EQ(a.firmware_slots, b.firmware_slots);
    EXPECT_EQ(a.slot1_read_only, b.slot1_read_only);
    EXPECT_EQ(a.temperature_kelvin, b.temperature_kelvin);
    EXPECT_EQ(a.warning_temperature_kelvin, b.warning_temperature_kelvin);
    EXPECT_EQ(a.critical_temperature_kelvin, b.critical_temperature_kelvin);
    EXPECT_EQ(a.extended_self_test_minutes, b.extended_self_test_minutes);
    EXPECT_EQ(a.short_self_test_ms, b.short_self_test_ms);
    ASSERT_EQ(a.namespaces.size(), b.namespaces.size());
    for (std::size_t i = 0; i < a.namespaces.size(); ++i)
        expect_same(a.namespaces[i], b.namespaces[i]);
}

/// A config in which every field differs from its default.
ControllerConfig everything_changed()
{
    ControllerConfig c;
    c.model = "Test \"Model\" ünïcode";
    c.serial = "SN-42";
    c.firmware = "2.0";
    c.vid = 0x8086;
    c.ssvid = 0xffff;
    c.ieee_oui = 0xabcdef;
    c.cntlid = 7;
    c.subnqn = "nqn.2014-08.org.example:test";
    c.mdts = max_mdts;
    c.sgls = true;
    c.max_namespaces = 1024;
    c.total_capacity_bytes = ~0ull;
    c.max_io_queues = 64;
    c.max_queue_entries = 65535;
    c.aerl = 0;
    c.firmware_slots = 7;
    c.slot1_read_only = true;
    c.temperature_kelvin = 300;
    c.warning_temperature_kelvin = 350;
    c.critical_temperature_kelvin = 360;
    c.extended_self_test_minutes = 1;
    c.short_self_test_ms = 5;
    NamespaceConfig a;
    a.nsid = 3;
    a.size_bytes = 123456789ull * 4096;
    a.lba_data_size = 4096;
    a.metadata_size = 64;
    a.extended_metadata = true;
    a.backing_file = "/var/lib/nvmecuse/ns3.img";
    a.attached = false;
    NamespaceConfig b;
    b.nsid = 9;
    c.namespaces = {a, b};
    return c;
}

/// The error of parsing `json`; fails the test when it parses.
std::string error_of(std::string_view json)
{
    auto config = parse_controller_config(json);
    EXPECT_FALSE(config.has_value()) << "parsed: " << json;
    return config ? std::string() : config.error();
}

// ---- defaults and round trips ----

TEST(EmuConfigJson, EmptyObjectGivesTheStructDefaults)
{
    auto config = parse_controller_config("{}");
    ASSERT_TRUE(config) << config.error();
    expect_same(*config, ControllerConfig{});
    ASSERT_EQ(config->namespaces.size(), 1u);
}

TEST(EmuConfigJson, MissingFieldsKeepTheirDefaults)
{
    auto config = parse_controller_config(R"({"model": "X", "namespaces": [{"nsid": 4}]})");
    ASSERT_TRUE(config) << config.error();
    ControllerConfig expected;
    expected.model = "X";
    expected.namespaces[0].nsid = 4;
    expect_same(*config, expected);
}

TEST(EmuConfigJson, EmptyNamespaceArrayMeansNoNamespaces)
{
    auto config = parse_controller_config(R"({"namespaces": []})");
    ASSERT_TRUE(config) << config.error();
    EXPECT_TRUE(config->namespaces.empty());
}

TEST(EmuConfigJson, RoundTripOfDefaults)
{
    auto config = parse_controller_config(to_json(ControllerConfig{}));
    ASSERT_TRUE(config) << config.error();
    expect_same(*config, ControllerConfig{});
}

TEST(EmuConfigJson, RoundTripOfEveryFieldChanged)
{
    const ControllerConfig original = everything_changed();
    for (const int indent : {-1, 0, 4}) {
        const std::string text = to_json(original, indent);
        auto config = parse_controller_config(text);
        ASSERT_TRUE(config) << config.error() << "\n" << text;
        expect_same(*config, original);
    }
}

TEST(EmuConfigJson, OutputListsEveryFieldInStructOrderWithIntegers)
{
    const std::string text = to_json(ControllerConfig{}, -1);
    EXPECT_THAT(text, StartsWith(R"({"model":"nvmecuse Emulated NVMe SSD","serial":)"));
    // uint8_t fields are numbers, not characters; byte counts are integers.
    EXPECT_THAT(text, HasSubstr(R"("mdts":8,"sgls":false,)"));
    EXPECT_THAT(text, HasSubstr(R"("total_capacity_bytes":4294967296,)"));
    EXPECT_THAT(text,
                HasSubstr(R"("namespaces":[{"nsid":1,"size_bytes":1073741824,"lba_data_size":512,)"
                          R"("metadata_size":0,"extended_metadata":false,"backing_file":"",)"
                          R"("attached":true}]})"));
    EXPECT_EQ(text.find('\n'), std::string::npos);
    EXPECT_NE(to_json(ControllerConfig{}).find("\n  \"serial\""), std::string::npos);
}

TEST(EmuConfigJson, IntegralFloatsAreIntegers)
{
    auto config = parse_controller_config(R"({"short_self_test_ms": 1e3, "cntlid": 2.0})");
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->short_self_test_ms, 1000u);
    EXPECT_EQ(config->cntlid, 2u);
}

TEST(EmuConfigJson, ExtremesOfEachIntegerWidthAreAccepted)
{
    auto config = parse_controller_config(
        R"({"mdts": 51, "vid": 65535, "short_self_test_ms": 4294967295,
            "total_capacity_bytes": 18446744073709551615, "aerl": 0})");
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->mdts, 51u); // the largest transfer limit that fits 64 bits
    EXPECT_EQ(config->vid, 65535u);
    EXPECT_EQ(config->short_self_test_ms, 4294967295u);
    EXPECT_EQ(config->total_capacity_bytes, ~0ull);
    EXPECT_EQ(config->aerl, 0u);
}

TEST(EmuConfigJson, SemanticsAreNotCheckedHere)
{
    // Duplicate nsids, a 3-byte LBA, an oversized model: make_transport's call.
    auto config = parse_controller_config(
        R"({"model": "a model name far longer than the forty characters of MN",
            "namespaces": [{"nsid": 1, "lba_data_size": 3}, {"nsid": 1}]})");
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->namespaces.size(), 2u);
    EXPECT_EQ(config->namespaces[0].lba_data_size, 3u);
}

// ---- sizes ----

TEST(EmuConfigJson, SizeUnitsDecimalAndBinary)
{
    struct Case {
        const char* text;
        std::uint64_t bytes;
    };
    const Case cases[] = {
        {"0", 0},
        {"4096", 4096},
        {"512B", 512},
        {"1kB", 1000},
        {"1KB", 1000},
        {"1KiB", 1024},
        {"512MiB", 512ull << 20},
        {"512 MiB", 512ull << 20},
        {" 2 GB ", 2'000'000'000ull},
        {"1GiB", 1ull << 30},
        {"1gib", 1ull << 30},
        {"1TB", 1'000'000'000'000ull},
        {"1TiB", 1ull << 40},
        {"3PB", 3'000'000'000'000'000ull},
        {"1PiB", 1ull << 50},
        {"18EB", 18'000'000'000'000'000'000ull},
        {"15EiB", 15ull << 60},
        {"1.5KiB", 1536},
        {"1.5GB", 1'500'000'000ull},
        {"0.5TiB", 1ull << 39},
        {"2.000MiB", 2ull << 20},
        {"18446744073709551615", ~0ull},
        {"18446744073709551615B", ~0ull},
    };
    for (const Case& c : cases) {
        auto bytes = parse_size(c.text);
        ASSERT_TRUE(bytes) << c.text << ": " << bytes.error();
        EXPECT_EQ(*bytes, c.bytes) << c.text;
    }
}

TEST(EmuConfigJson, SizeErrorsSayWhy)
{
    EXPECT_EQ(parse_size("").error(), "empty");
    EXPECT_EQ(parse_size("GiB").error(), "expected a number before the unit");
    EXPECT_EQ(parse_size("-1GiB").error(), "expected a number before the unit");
    EXPECT_EQ(parse_size("1.GiB").error(), "expected digits after the decimal point");
    EXPECT_EQ(parse_size("1G").error(),
              R"(ambiguous unit "G": write "GB" (powers of 1000) or "GiB" (powers of 1024))");
    EXPECT_EQ(parse_size("4k").error(),
              R"(ambiguous unit "k": write "kB" (powers of 1000) or "KiB" (powers of 1024))");
    EXPECT_EQ(
        parse_size("1 GB/s").error(),
        R"(unknown unit "GB/s" (use B, kB, MB, GB, TB, PB, EB, KiB, MiB, GiB, TiB, PiB or EiB))");
    EXPECT_EQ(parse_size("1.5B").error(), "not a whole number of bytes");
    EXPECT_EQ(parse_size("0.1KiB").error(), "not a whole number of bytes");
    EXPECT_EQ(parse_size("16EiB").error(), "too large (the maximum is 18446744073709551615 bytes)");
    EXPECT_EQ(parse_size("18446744073709551616").error(),
              "too large (the maximum is 18446744073709551615 bytes)");
}

// Found by tests/fuzz/emu_config_json_fuzz: quoting a unit that is not UTF-8
// threw nlohmann's type_error 316 out of parse_size(), which terminated.
TEST(EmuConfigJson, SizeErrorsQuoteUnitsThatAreNotUtf8)
{
    const auto r = parse_size("1.5 K\xff\xffiB");
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error(), StartsWith("unknown unit \"K"));
    EXPECT_THAT(parse_size("1\xfe").error(), StartsWith("unknown unit \""));
}

// Found by tests/fuzz/emu_config_json_fuzz: nlohmann reports a number too
// large for a double as out_of_range 406, which escaped the parse_error
// handler and terminated the daemon reading such a file.
TEST(EmuConfigJson, NumberBeyondDoubleIsAnError)
{
    const auto r = parse_controller_config(R"({"mdts": 1e999})");
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error(), StartsWith("invalid JSON: number overflow"));
}

TEST(EmuConfigJson, ByteCountFieldsTakeStringsOrIntegers)
{
    auto config = parse_controller_config(
        R"({"total_capacity_bytes": "1TB",
            "namespaces": [{"size_bytes": "512MiB", "lba_data_size": "4KiB", "metadata_size": "64"},
                           {"nsid": 2, "size_bytes": 4096}]})");
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->total_capacity_bytes, 1'000'000'000'000ull);
    EXPECT_EQ(config->namespaces[0].size_bytes, 512ull << 20);
    EXPECT_EQ(config->namespaces[0].lba_data_size, 4096u);
    EXPECT_EQ(config->namespaces[0].metadata_size, 64u);
    EXPECT_EQ(config->namespaces[1].size_bytes, 4096u);
}

TEST(EmuConfigJson, InvalidSizeNamesThePath)
{
    EXPECT_EQ(error_of(R"({"namespaces": [{}, {"size_bytes": "1G"}]})"),
              R"($.namespaces[1].size_bytes: invalid size "1G": ambiguous unit "G": )"
              R"(write "GB" (powers of 1000) or "GiB" (powers of 1024))");
    EXPECT_EQ(error_of(R"({"total_capacity_bytes": "lots"})"),
              R"($.total_capacity_bytes: invalid size "lots": expected a number before the unit)");
}

TEST(EmuConfigJson, SizeTooLargeForItsField)
{
    EXPECT_EQ(
        error_of(R"({"namespaces": [{"lba_data_size": "8GiB"}]})"),
        R"($.namespaces[0].lba_data_size: "8GiB" (8589934592 bytes) is out of range (0..4294967295))");
    EXPECT_EQ(error_of(R"({"namespaces": [{"metadata_size": 65536}]})"),
              "$.namespaces[0].metadata_size: 65536 is out of range (0..65535)");
}

// ---- errors ----

TEST(EmuConfigJson, MalformedJsonGivesLineAndColumn)
{
    const std::string error = error_of("{\n  \"model\": \"x\",\n}");
    EXPECT_THAT(error, StartsWith("invalid JSON: parse error at line 3, column 1:"));
    EXPECT_THAT(error_of(""), StartsWith("invalid JSON: parse error at line 1, column 1:"));
    EXPECT_THAT(error_of("{} {}"), StartsWith("invalid JSON: parse error at line 1, column 4:"));
}

TEST(EmuConfigJson, UnknownTopLevelKeyWithSuggestion)
{
    EXPECT_EQ(error_of(R"({"model": "x", "modle": "y"})"),
              R"($: unknown key "modle" (did you mean "model"?))");
}

TEST(EmuConfigJson, UnknownNamespaceKeyNamesItsPath)
{
    EXPECT_EQ(error_of(R"({"namespaces": [{"nsid": 1}, {"nsid": 2, "sise_bytes": "1GiB"}]})"),
              R"($.namespaces[1]: unknown key "sise_bytes" (did you mean "size_bytes"?))");
}

TEST(EmuConfigJson, UnknownKeyFarFromAnyFieldHasNoSuggestion)
{
    EXPECT_EQ(error_of(R"({"colour": "blue"})"), R"($: unknown key "colour")");
    // A key that is no identifier is quoted in the path-style message too.
    EXPECT_EQ(error_of(R"({"a b": 1})"), R"($: unknown key "a b")");
}

TEST(EmuConfigJson, NamespaceKeyAtTopLevelIsUnknown)
{
    EXPECT_EQ(error_of(R"({"size_bytes": 1})"), R"($: unknown key "size_bytes")");
}

TEST(EmuConfigJson, DuplicateKeyIsAnError)
{
    EXPECT_EQ(error_of(R"({"model": "a", "model": "b"})"), R"($: duplicate key "model")");
    EXPECT_EQ(error_of(R"({"namespaces": [{}, {}, {"nsid": 3, "nsid": 4}]})"),
              R"($.namespaces[2]: duplicate key "nsid")");
    // The same key in two different objects is fine.
    EXPECT_TRUE(parse_controller_config(R"({"namespaces": [{"nsid": 1}, {"nsid": 2}]})"));
}

TEST(EmuConfigJson, RootMustBeAnObject)
{
    EXPECT_EQ(error_of("[]"), "$: expected an object, got array");
    EXPECT_EQ(error_of("null"), "$: expected an object, got null");
    EXPECT_EQ(error_of("42"), "$: expected an object, got number 42");
}

TEST(EmuConfigJson, WrongTypesNameThePath)
{
    EXPECT_EQ(error_of(R"({"model": 5})"), "$.model: expected a string, got number 5");
    EXPECT_EQ(error_of(R"({"mdts": "8"})"),
              R"($.mdts: expected an unsigned integer, got string "8")");
    EXPECT_EQ(error_of(R"({"vid": null})"), "$.vid: expected an unsigned integer, got null");
    EXPECT_EQ(error_of(R"({"mdts": 1.5})"), "$.mdts: expected an unsigned integer, got number 1.5");
    EXPECT_EQ(error_of(R"({"slot1_read_only": 1})"),
              "$.slot1_read_only: expected true or false, got number 1");
    EXPECT_EQ(error_of(R"({"namespaces": {"nsid": 1}})"),
              "$.namespaces: expected an array, got object");
    EXPECT_EQ(error_of(R"({"namespaces": [{}, 7]})"),
              "$.namespaces[1]: expected an object, got number 7");
    EXPECT_EQ(error_of(R"({"namespaces": [{"attached": "yes"}]})"),
              R"($.namespaces[0].attached: expected true or false, got string "yes")");
    EXPECT_EQ(
        error_of(R"({"namespaces": [{"size_bytes": true}]})"),
        R"($.namespaces[0].size_bytes: expected a size (an integer or a string such as "1GiB"), got boolean true)");
    EXPECT_EQ(error_of(R"({"namespaces": [{"backing_file": ["a"]}]})"),
              "$.namespaces[0].backing_file: expected a string, got array");
}

TEST(EmuConfigJson, LongValuesAreShortenedInMessages)
{
    const std::string error = error_of(R"({"vid": ")" + std::string(100, 'x') + R"("})");
    EXPECT_EQ(error, R"($.vid: expected an unsigned integer, got string ")" + std::string(39, 'x') +
                         "...");
}

TEST(EmuConfigJson, OutOfRangeIntegers)
{
    EXPECT_EQ(error_of(R"({"mdts": 256})"), "$.mdts: 256 is out of range (0..255)");
    EXPECT_EQ(error_of(R"({"mdts": 52})"), "$.mdts: 52 is out of range (0..51)");
    EXPECT_EQ(error_of(R"({"cntlid": -1})"), "$.cntlid: -1 is out of range (0..65535)");
    EXPECT_EQ(error_of(R"({"short_self_test_ms": 4294967296})"),
              "$.short_self_test_ms: 4294967296 is out of range (0..4294967295)");
    EXPECT_EQ(
        error_of(R"({"total_capacity_bytes": 18446744073709551616})"),
        "$.total_capacity_bytes: 1.8446744073709552e+19 is out of range (0..18446744073709551615)");
    EXPECT_EQ(error_of(R"({"namespaces": [{"nsid": -3}]})"),
              "$.namespaces[0].nsid: -3 is out of range (0..4294967295)");
    // Identify IEEE holds 24 bits: more would be cut off without a word.
    EXPECT_EQ(error_of(R"({"ieee_oui": 16777216})"),
              "$.ieee_oui: 16777216 is out of range (0..16777215)");
}

TEST(EmuConfigJson, FirstErrorInDocumentOrderIsReported)
{
    EXPECT_EQ(error_of(R"({"mdts": "x", "vid": "y"})"),
              R"($.mdts: expected an unsigned integer, got string "x")");
}

// ---- files ----

class EmuConfigJsonFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        char pattern[] = "/tmp/nvmecuse-config-json-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path write(const std::string& name, const std::string& text)
    {
        const auto path = dir_ / name;
        std::ofstream(path) << text;
        return path;
    }

    std::filesystem::path dir_;
};

TEST_F(EmuConfigJsonFile, LoadsAFile)
{
    // A backing file's directory must exist: keep it in the test's own.
    ControllerConfig changed = everything_changed();
    for (auto& ns : changed.namespaces)
        if (!ns.backing_file.empty()) ns.backing_file = (dir_ / "ns.img").string();
    const auto path = write("c.json", to_json(changed));
    auto config = load_controller_config(path);
    ASSERT_TRUE(config) << config.error();
    expect_same(*config, changed);
}

TEST_F(EmuConfigJsonFile, MissingFileNamesPathAndErrno)
{
    const auto path = dir_ / "absent.json";
    auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), path.string() + ": No such file or directory");
}

TEST_F(EmuConfigJsonFile, DirectoryNamesPathAndErrno)
{
    auto config = load_controller_config(dir_);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), dir_.string() + ": Is a directory");
}

TEST_F(EmuConfigJsonFile, FileAsDirectoryNamesPathAndErrno)
{
    const auto path = write("plain", "{}") / "c.json";
    auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), path.string() + ": Not a directory");
}

TEST_F(EmuConfigJsonFile, EndlessFileIsRefused)
{
    auto config = load_controller_config("/dev/zero");
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), "/dev/zero: larger than 16 MiB, not a configuration file");
}

TEST_F(EmuConfigJsonFile, ParseErrorIsPrefixedWithThePath)
{
    const auto path = write("typo.json", R"({"namespaces": [{"lba_size": 4096}]})");
    auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), path.string() + R"(: $.namespaces[0]: unknown key "lba_size")");
}

TEST_F(EmuConfigJsonFile, SemanticErrorsNameTheKeyAndWhy)
{
    const auto lba = write("lba.json", R"({"namespaces": [{"lba_data_size": 1024}]})");
    auto config = load_controller_config(lba);
    ASSERT_FALSE(config);
    EXPECT_THAT(config.error(),
                StartsWith(lba.string() + ": $.namespaces[0]: lba_data_size 1024 with "
                                          "metadata_size 0 is not a supported LBA format"));
    const auto twice = write("twice.json", R"({"namespaces": [{"nsid": 1}, {"nsid": 1}]})");
    config = load_controller_config(twice);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), twice.string() + ": $.namespaces[1].nsid: 1 is given twice");
}

TEST_F(EmuConfigJsonFile, MissingBackingFileDirectoryIsNamed)
{
    const auto absent = dir_ / "state";
    const auto path =
        write("c.json", R"({"namespaces": [{"nsid": 1}, {"nsid": 2, "backing_file": ")" +
                            (absent / "ns2.img").string() + R"("}]})");
    auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), path.string() + ": $.namespaces[1].backing_file: directory " +
                                  absent.string() + " does not exist (create it, e.g. mkdir -p " +
                                  absent.string() + ")");
    std::filesystem::create_directory(absent);
    config = load_controller_config(path);
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->namespaces[1].backing_file, (absent / "ns2.img").string());
}

TEST_F(EmuConfigJsonFile, BackingFileUnderAFileIsNamed)
{
    const auto plain = write("plain", "");
    const auto path = write("c.json", R"({"namespaces": [{"backing_file": ")" +
                                          (plain / "ns1.img").string() + R"("}]})");
    auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error(), path.string() + ": $.namespaces[0].backing_file: directory " +
                                  plain.string() + " is not a directory");
}

/// The keys of an object as to_json() writes them: every key the parser takes.
std::vector<std::string> keys_of(const nlohmann::json& object)
{
    std::vector<std::string> keys;
    for (const auto& [key, value] : object.items())
        keys.push_back(key);
    return keys;
}

TEST(EmuConfigJsonDocs, EveryKeyIsDocumentedInConfigurationMd)
{
    std::ifstream in(std::string(NVMECUSE_SOURCE_DIR) + "/docs/configuration.md");
    ASSERT_TRUE(in) << "docs/configuration.md not found";
    const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto written = nlohmann::json::parse(to_json(ControllerConfig{}));
    std::vector<std::string> keys = keys_of(written);
    for (const auto& key : keys_of(written["namespaces"][0]))
        keys.push_back(key);
    EXPECT_EQ(keys.size(), 30u); // 23 controller keys, 7 namespace keys
    for (const auto& key : keys)
        EXPECT_THAT(doc, HasSubstr("\n| `" + key + "` |")) << key << " has no row in the docs";
}

} // namespace
} // namespace nvmecuse::emu
