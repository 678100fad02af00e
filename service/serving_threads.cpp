#include "nvmecuse/service/serving_threads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace nvmecuse::service {

namespace {
using Started = std::vector<std::unique_ptr<nvmecuse::ctrlr::Reactor>>;
std::mutex started_mutex;
Started& started_threads()
{
    // Never destroyed: controllers and nodes stopped during exit may still
    // reach them, and the process ends their threads.
    static auto* const started = new Started;
    return *started;
}
} // namespace

std::expected<std::vector<nvmecuse::ctrlr::Reactor*>, std::string>
serving_threads(unsigned count, std::chrono::microseconds spin)
{
    std::lock_guard lock(started_mutex);
    Started* const started = &started_threads();
    while (started->size() < count) {
        const auto index = static_cast<unsigned>(started->size());
        auto r = nvmecuse::ctrlr::Reactor::start(fmt::format("serve{}", index), index, spin);
        if (!r) return std::unexpected(fmt::format("starting serving thread {}: {}", index,
                                                   r.error().message()));
        started->push_back(std::move(*r));
    }
    std::vector<nvmecuse::ctrlr::Reactor*> out;
    for (unsigned i = 0; i < count; ++i)
        out.push_back((*started)[i].get());
    return out;
}

std::vector<nvmecuse::ctrlr::Reactor::Counters> serving_thread_counters()
{
    std::lock_guard lock(started_mutex);
    std::vector<nvmecuse::ctrlr::Reactor::Counters> out;
    for (const auto& r : started_threads())
        out.push_back(r->counters());
    return out;
}

} // namespace nvmecuse::service
