#include "log.hpp"

#include "nvmecuse/logging.hpp"

namespace nvmecuse::emu {

spdlog::logger& log()
{
    static const std::shared_ptr<spdlog::logger> logger = logging::category("emu");
    return *logger;
}

} // namespace nvmecuse::emu
