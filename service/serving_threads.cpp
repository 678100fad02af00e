#include "nvmecuse/service/serving_threads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace nvmecuse::service {

std::expected<std::vector<nvmecuse::ctrlr::Reactor*>, std::string>
serving_threads(unsigned count, std::chrono::microseconds spin)
{
    // Never destroyed: controllers and nodes stopped during exit may still
    // reach them, and the process ends their threads.
    static auto* const started = new std::vector<std::unique_ptr<nvmecuse::ctrlr::Reactor>>;
    static std::mutex mutex;
    std::lock_guard lock(mutex);
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

} // namespace nvmecuse::service
