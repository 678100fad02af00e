// nvmecusectl attach's options (apps/nvmecusectl/attach_options.cpp) and
// save-config's file (saved_config.cpp): nvme connect's names make
// controller_attach's params; a saved configuration with secrets is
// readable by its owner only.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "apps/nvmecusectl/attach_options.hpp"
#include "apps/nvmecusectl/saved_config.hpp"

namespace {

using nlohmann::json;
using nvmecusectl::AttachOptions;

const std::string secret = "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";

/// `args` after "attach", parsed as nvmecusectl parses them, made params.
std::expected<json, std::string> params_of(std::vector<std::string> args)
{
    CLI::App app;
    AttachOptions o;
    nvmecusectl::add_attach_options(*app.add_subcommand("attach"), o);
    args.insert(args.begin(), "attach");
    std::reverse(args.begin(), args.end()); // CLI11 takes them last first
    app.parse(args);
    return nvmecusectl::attach_params(o);
}

TEST(NvmecusectlAttach, NvmeConnectsAuthenticationAndDigestOptionsBecomeTheirParams)
{
    auto p = params_of({"-t", "tcp", "-a", "10.0.0.2", "-s", "4420", "-n", "nqn.x:y", "-S", secret,
                        "-C", secret, "-g", "-G"});
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ((*p)["dhchap_secret"], secret);
    EXPECT_EQ((*p)["dhchap_ctrl_secret"], secret);
    EXPECT_EQ((*p)["hdr_digest"], true);
    EXPECT_EQ((*p)["data_digest"], true);
    EXPECT_EQ((*p)["trtype"], "tcp");
    EXPECT_EQ((*p)["trsvcid"], "4420");

    auto long_names = params_of({"-a", "10.0.0.2", "--dhchap-secret", secret, "--hdr-digest"});
    ASSERT_TRUE(long_names) << long_names.error();
    EXPECT_EQ((*long_names)["dhchap_secret"], secret);
    EXPECT_EQ((*long_names)["hdr_digest"], true);
    EXPECT_FALSE(long_names->contains("data_digest"));
    EXPECT_FALSE(long_names->contains("dhchap_ctrl_secret"));
}

TEST(NvmecusectlAttach, PersistentKeepsADiscoveryControllerAndIsNotForEmulated)
{
    auto p = params_of({"-a", "10.0.0.2", "-s", "8009", "-p", "--name", "disc"});
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ((*p)["persistent"], true);
    EXPECT_EQ((*p)["name"], "disc");
    EXPECT_FALSE(params_of({"-a", "10.0.0.2"})->contains("persistent"));
    auto emulated = params_of({"-t", "emulated", "--persistent"});
    ASSERT_FALSE(emulated);
    EXPECT_NE(emulated.error().find("-p/--persistent"), std::string::npos) << emulated.error();
}

TEST(NvmecusectlDiscover, NvmeDiscoversOptionsBecomeDiscoveryLogParams)
{
    const auto params_of_discover = [](std::vector<std::string> args) {
        CLI::App app;
        AttachOptions o;
        nvmecusectl::add_discover_options(*app.add_subcommand("discover"), o);
        args.insert(args.begin(), "discover");
        std::reverse(args.begin(), args.end());
        app.parse(args);
        return nvmecusectl::discover_params(o);
    };
    auto p = params_of_discover({"-a", "10.0.0.2"});
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(*p, (json{{"trtype", "tcp"}, {"traddr", "10.0.0.2"}})); // the daemon's 8009
    p = params_of_discover({"-t", "tcp", "-a", "10.0.0.2", "-s", "4420", "-q", "nqn.x:host",
                            "-I", "7e3b1a2c-58d4-4f6e-9a1b-2c3d4e5f6a7b", "-S", secret});
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ((*p)["trsvcid"], "4420");
    EXPECT_EQ((*p)["hostnqn"], "nqn.x:host");
    EXPECT_EQ((*p)["hostid"], "7e3b1a2c-58d4-4f6e-9a1b-2c3d4e5f6a7b");
    EXPECT_EQ((*p)["dhchap_secret"], secret);
    EXPECT_THROW(params_of_discover({"-s", "8009"}), CLI::RequiredError); // -a is required
}

TEST(NvmecusectlAttach, WithoutThemNoneIsSentSoTheDaemonsDefaultsHold)
{
    auto p = params_of({"trtype:tcp traddr:10.0.0.2 subnqn:nqn.x:y"});
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(*p, (json{{"trid", "trtype:tcp traddr:10.0.0.2 subnqn:nqn.x:y"}}));
}

TEST(NvmecusectlAttach, AnEmulatedControllerRefusesNvmeTcpOptionsInOneLine)
{
    for (const auto& option : std::vector<std::vector<std::string>>{
             {"-S", secret}, {"-C", secret}, {"-g"}, {"--data-digest"}}) {
        std::vector<std::string> args{"-t", "emulated"};
        args.insert(args.end(), option.begin(), option.end());
        auto p = params_of(args);
        ASSERT_FALSE(p) << option[0];
        EXPECT_NE(p.error().find("NVMe/TCP option"), std::string::npos) << p.error();
        EXPECT_EQ(p.error().find('\n'), std::string::npos) << p.error();
    }
    EXPECT_TRUE(params_of({"-t", "emulated"}));
}

TEST(NvmecusectlSaveConfig, SecretsAreFoundWhereverTheyAre)
{
    const json plain = {{"subsystems", json::array({{{"config", json::array({{{"params", {{"traddr", "a"}}}}})}}})}};
    EXPECT_FALSE(nvmecusectl::holds_secrets(plain));
    json with = plain;
    with["subsystems"][0]["config"][0]["params"]["dhchap_ctrl_secret"] = secret;
    EXPECT_TRUE(nvmecusectl::holds_secrets(with));
}

TEST(NvmecusectlSaveConfig, TheFileIsReplacedWithModeReadableByItsOwnerOnly)
{
    char dir[] = "/tmp/nvmecusectl-save-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/nvmecused.json";
    {
        std::ofstream old(path);
        old << "old";
    }
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    const mode_t umask_before = ::umask(0);
    auto written = nvmecusectl::write_private_file(path, "{\"new\": 1}\n");
    ::umask(umask_before);
    ASSERT_TRUE(written) << written.error();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "{\"new\": 1}\n");
    ::unlink(path.c_str());
    EXPECT_EQ(::rmdir(dir), 0) << "a temporary file was left behind";

    auto refused = nvmecusectl::write_private_file(std::string(dir) + "/gone/x.json", "{}");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("/gone/x.json"), std::string::npos) << refused.error();
}

TEST(NvmecusectlSaveConfig, RedirectedStandardOutputIsMadePrivateAndAPipeIsLeftAlone)
{
    char path[] = "/tmp/nvmecusectl-stdout-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fchmod(fd, 0644), 0);
    ASSERT_TRUE(nvmecusectl::make_private(fd));
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ::close(fd);
    ::unlink(path);

    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    EXPECT_TRUE(nvmecusectl::make_private(pipe_fds[1]));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

} // namespace
