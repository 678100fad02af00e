#include "log.hpp"

#include "nvmecuse/logging.hpp"

namespace nvmecuse::transport::tcp {

spdlog::logger& log()
{
    static const std::shared_ptr<spdlog::logger> logger = logging::category("tcp");
    return *logger;
}

} // namespace nvmecuse::transport::tcp
