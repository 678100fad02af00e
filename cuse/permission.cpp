#include "nvmecuse/cuse/permission.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace nvmecuse::cuse {
namespace {

namespace fx = nvme::command_effects;

/// Linux include/linux/nvme.h: nvme_cmd_vendor_start and nvme_fabrics_command.
constexpr std::uint8_t vendor_start = 0x80;
constexpr std::uint8_t fabrics_opcode = 0x7f;

/// NVME_CMD_EFFECTS_UUID_SEL and NVME_CMD_EFFECTS_SCOPE_MASK (bits 31:20).
constexpr std::uint32_t scope_mask = 0xfff00000u;
constexpr std::uint32_t harmless_effects = fx::csupp | fx::lbcc | fx::uss | scope_mask;

/// The Identify data nvme_cmd_allowed() hands out without a namespace:
/// what building I/O commands needs, nothing sensitive.
constexpr auto unprivileged_identify = std::to_array<nvme::Cns>({
    nvme::Cns::namespace_,
    nvme::Cns::controller,
    nvme::Cns::io_namespace_csi,
    nvme::Cns::io_controller_csi,
    nvme::Cns::io_command_set_independent_namespace,
});

} // namespace

std::optional<KernelRules> parse_kernel_rules(std::string_view text) noexcept
{
    if (text == "6.1") return KernelRules::linux_6_1;
    if (text == "6.2") return KernelRules::linux_6_2;
    return std::nullopt;
}

std::string_view to_string(KernelRules rules) noexcept
{
    return rules == KernelRules::linux_6_2 ? "6.2" : "6.1";
}

std::optional<KernelRules> kernel_rules_for_release(std::string_view release) noexcept
{
    unsigned major = 0;
    unsigned minor = 0;
    const char* const end = release.data() + release.size();
    auto [p, ec] = std::from_chars(release.data(), end, major);
    if (ec != std::errc{} || p == end || *p != '.') return std::nullopt;
    auto [q, ec2] = std::from_chars(p + 1, end, minor);
    if (ec2 != std::errc{}) return std::nullopt;
    const bool since_6_2 = major > 6 || (major == 6 && minor >= 2);
    return since_6_2 ? KernelRules::linux_6_2 : KernelRules::linux_6_1;
}

KernelRules running_kernel_rules() noexcept
{
    struct utsname u {};
    if (::uname(&u) != 0) return KernelRules::linux_6_1;
    return kernel_rules_for_release(u.release).value_or(KernelRules::linux_6_1);
}

std::uint32_t io_command_effects(const nvme::CommandsSupportedEffectsLog* effects,
                                 std::uint8_t opcode) noexcept
{
    if (effects == nullptr) return 0;
    return effects->iocs[opcode] & ~fx::Cse::mask;
}

bool unprivileged_command_allowed(const nvme::SubmissionQueueEntry& sqe, bool bound_namespace,
                                  const nvme::CommandsSupportedEffectsLog* effects,
                                  bool for_write) noexcept
{
    if (sqe.opc >= vendor_start || sqe.opc == fabrics_opcode) return false;
    if (!bound_namespace) {
        if (sqe.opc != static_cast<std::uint8_t>(nvme::AdminOpcode::identify)) return false;
        const auto cns = static_cast<nvme::Cns>(nvme::cmd::identify::Cns::get(sqe));
        return std::ranges::find(unprivileged_identify, cns) != unprivileged_identify.end();
    }
    const std::uint32_t e = io_command_effects(effects, sqe.opc);
    if ((e & fx::csupp) == 0) return false;
    if ((e & ~harmless_effects) != 0) return false;
    const bool writes = (sqe.opc & 1u) != 0; // nvme_is_write()
    if ((writes || (e & fx::lbcc) != 0) && !for_write) return false;
    return true;
}

} // namespace nvmecuse::cuse
