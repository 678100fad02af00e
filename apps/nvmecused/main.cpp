// nvmecused: the nvmecuse daemon. Serves the built-in emulated controller
// (--emulate) and NVMe/TCP controllers (--attach), each under the lowest
// free controller index N, as CUSE character devices /dev/<dir>/nvme<N>
// and /dev/<dir>/nvme<N>n<M> speaking the Linux NVMe ioctl ABI, until
// SIGINT or SIGTERM.

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <vector>

#include "arguments.hpp"
#include "attach.hpp"
#include "emulated.hpp"
#include "served_controller.hpp"

using namespace nvmecused;

namespace {

/// Blocks SIGINT/SIGTERM in every thread (the ones started later inherit
/// the mask) and returns the set to wait on.
sigset_t block_stop_signals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

/// Stops the nodes of every controller, newest first.
void stop_all(std::vector<ServedController>& served)
{
    for (auto it = served.rbegin(); it != served.rend(); ++it)
        it->registry->stop();
}

int fail(std::vector<ServedController>& served, const std::string& message)
{
    std::fprintf(stderr, "nvmecused: %s\n", message.c_str());
    stop_all(served);
    return 1;
}

} // namespace

int main(int argc, char** argv)
{
    auto args = parse_arguments(argc, argv);
    if (!args) return args.error();
    spdlog::set_level(spdlog::level::from_str(args->log_level));

    const sigset_t stop_signals = block_stop_signals();
    std::vector<ServedController> served;
    if (args->emulate) {
        auto emulated = serve_emulated(*args);
        if (!emulated) return fail(served, emulated.error());
        served.push_back(std::move(*emulated));
    }
    if (auto attached = serve_attached(*args, served); !attached)
        return fail(served, attached.error());

    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("stopping on signal {}", signal);
    stop_all(served);
    return 0;
}
