#include "nvmecuse/ctrlr/effects.hpp"

namespace nvmecuse::ctrlr {

nvme::CommandsSupportedEffectsLog
with_known_effects(const nvme::CommandsSupportedEffectsLog& reported) noexcept
{
    namespace fx = nvme::command_effects;
    constexpr std::uint32_t cse_mask = fx::Cse::mask;
    using A = nvme::AdminOpcode;
    using N = nvme::NvmOpcode;
    auto admin = [](A op) { return static_cast<std::size_t>(op); };
    auto io = [](N op) { return static_cast<std::size_t>(op); };

    nvme::CommandsSupportedEffectsLog log = reported;
    log.acs[admin(A::format_nvm)] |= fx::lbcc | fx::ncc | cse_mask;
    log.acs[admin(A::sanitize)] |= fx::lbcc | cse_mask;
    log.acs[admin(A::security_receive)] &= ~cse_mask;
    log.iocs[io(N::write)] |= fx::lbcc;
    log.iocs[io(N::write_zeroes)] |= fx::lbcc;
    log.iocs[io(N::write_uncorrectable)] |= fx::lbcc;
    return log;
}

} // namespace nvmecuse::ctrlr
