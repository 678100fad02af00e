// A controller manager over emulated controllers whose CUSE nodes are
// socketpairs (fake_cuse_kernel.hpp drives the kernel's end), served on a
// control socket in a private temporary directory.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "nvmecuse/cuse/credentials.hpp"
#include "nvmecuse/rpc/client.hpp"
#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/rpc/server.hpp"
#include "nvmecuse/service/controller_manager.hpp"

namespace nvmecuse::testing {

class ControlPlaneFixture : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/nvmecuse-control-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        service::ServeOptions serving;
        serving.lock_directory = dir_ + "/locks";
        serving.permissions.apply = false;
        serving.kernel_rules = cuse::KernelRules::linux_6_1;
        serving.credentials = [](pid_t pid) -> std::expected<cuse::CallerCredentials, std::error_code> {
            return cuse::CallerCredentials{pid, std::uint64_t{1} << cuse::cap_sys_admin, true};
        };
        serving.open_channel =
            [this](const std::string& devname) -> std::expected<int, std::error_code> {
            int sv[2];
            if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
                return std::unexpected(std::error_code(errno, std::system_category()));
            std::lock_guard lock(mutex_);
            if (auto old = kernel_ends_.find(devname); old != kernel_ends_.end())
                ::close(old->second); // a node of a detached controller of that index
            kernel_ends_[devname] = sv[0];
            cv_.notify_all();
            return sv[1];
        };
        manager_ = std::make_unique<service::ControllerManager>(std::move(serving));
        rpc::add_native_methods(dispatcher_, *manager_, defaults_);
        rpc::add_spdk_methods(dispatcher_, *manager_, defaults_);
    }

    void TearDown() override
    {
        server_.reset();
        manager_.reset();
        for (auto& [name, fd] : kernel_ends_)
            ::close(fd);
        std::filesystem::remove_all(dir_);
    }

    /// Serves the dispatcher at socket_path().
    void serve(rpc::ServerOptions options = {})
    {
        options.path = socket_path();
        auto server = rpc::Server::start(dispatcher_, std::move(options));
        ASSERT_TRUE(server) << server.error();
        server_ = std::move(*server);
    }

    [[nodiscard]] std::string socket_path() const { return dir_ + "/control.sock"; }

    [[nodiscard]] rpc::Client client() const
    {
        auto c = rpc::Client::connect(socket_path());
        EXPECT_TRUE(c) << c.error().message;
        return std::move(*c);
    }

    /// Takes the kernel's end of `devname`'s channel (waits, bounded).
    int take_kernel_end(const std::string& devname)
    {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, std::chrono::seconds(5),
                          [&] { return kernel_ends_.contains(devname); }))
            return -1;
        const int fd = kernel_ends_[devname];
        kernel_ends_.erase(devname);
        return fd;
    }

    std::string dir_;
    transport::tcp::TcpOptions defaults_;
    std::unique_ptr<service::ControllerManager> manager_;
    rpc::Dispatcher dispatcher_;
    std::unique_ptr<rpc::Server> server_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::string, int> kernel_ends_;
};

} // namespace nvmecuse::testing
