// nvmecused under a service manager (apps/nvmecused/readiness.cpp): the
// built daemon, started with the systemd unit's ExecStart= arguments and
// NOTIFY_SOCKET set as systemd sets it for Type=notify, says READY=1 with a STATUS= line once its control socket
// answers, a new STATUS= line after each attach and detach, and STOPPING=1
// on SIGTERM, then exits 0. Needs no CUSE: what it attaches has no nodes.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nvmecuse/rpc/client.hpp"

namespace {

/// One datagram from `fd` within `timeout_s`; empty on timeout.
std::string receive(int fd, int timeout_s)
{
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

/// The unit's ExecStart= arguments after the program; `type` gets Type=.
std::vector<std::string> unit_arguments(std::string& type)
{
    std::ifstream unit(NVMECUSE_UNIT_TEMPLATE);
    std::vector<std::string> out;
    for (std::string line; std::getline(unit, line);) {
        if (line.starts_with("Type=")) type = line.substr(5);
        if (!line.starts_with("ExecStart=")) continue;
        std::istringstream words(line.substr(10));
        std::string word;
        words >> word; // the program
        while (words >> word)
            out.push_back(word);
    }
    return out;
}

TEST(NvmecusedNotify, ReadyWithStatusThenStoppingUnderTypeNotify)
{
    std::string type;
    const auto unit = unit_arguments(type);
    EXPECT_EQ(type, "notify");
    ASSERT_EQ(unit, (std::vector<std::string>{"--log-format", "journal"}));

    char dir[] = "/tmp/nvmecused-notify-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string notify = std::string(dir) + "/notify";
    const std::string control = std::string(dir) + "/control.sock";
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, notify.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

    const std::string locks = std::string(dir) + "/locks";
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
        // The unit's command line, with a socket and claims of the test's.
        std::vector<std::string> args{"nvmecused"};
        args.insert(args.end(), unit.begin(), unit.end());
        args.insert(args.end(), {"--rpc-socket", control, "--lock-dir", locks, "--log-level", "warn"});
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(NVMECUSED_PATH, argv.data());
        ::_exit(127);
    }
    const std::string ready = receive(fd, 20);
    EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
    EXPECT_NE(ready.find("STATUS=serving no controller; control socket " + control),
              std::string::npos)
        << ready;
    // Ready means the control socket answers.
    auto client = nvmecuse::rpc::Client::connect(control);
    ASSERT_TRUE(client) << client.error().message;
    auto list = client->call("controller_list");
    ASSERT_TRUE(list) << list.error().message;
    EXPECT_EQ(*list, nlohmann::json::array());
    // Each attach and detach says what is served now (no nodes: no CUSE needed).
    auto attached = client->call("controller_attach", {{"trtype", "emulated"}, {"nodes", false}});
    ASSERT_TRUE(attached) << attached.error().message;
    EXPECT_EQ(receive(fd, 20), "STATUS=serving 1 controller(s): nvme0; control socket " + control);
    ASSERT_TRUE(client->call("controller_detach", {{"name", "nvme0"}}));
    EXPECT_EQ(receive(fd, 20), "STATUS=serving no controller; control socket " + control);

    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_EQ(receive(fd, 20), "STOPPING=1");
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_FALSE(std::filesystem::exists(control)); // the socket goes with the daemon
    ::close(fd);
    std::filesystem::remove_all(dir);
}

} // namespace
