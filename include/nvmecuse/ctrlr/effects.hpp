// The Commands Supported and Effects log as the Linux driver keeps it: what
// the controller reported, with the effects the driver knows regardless
// laid over it. Pure; any thread.
#pragma once

#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::ctrlr {

/// `reported` (all zero when the controller has no such log) with Linux
/// nvme_init_known_nvm_effects() applied, as kernel 6.12 stores it:
/// - Format NVM: + LBCC, NCC, CSE (all three bits);
/// - Sanitize: + LBCC, CSE;
/// - Security Receive: CSE cleared (its restriction concerns the admin
///   queue only, which the driver does not freeze for);
/// - Write, Write Zeroes, Write Uncorrectable: + LBCC.
/// CSUPP is never added: a controller without the log supports nothing
/// as far as the unprivileged passthrough rules are concerned.
[[nodiscard]] nvme::CommandsSupportedEffectsLog
with_known_effects(const nvme::CommandsSupportedEffectsLog& reported) noexcept;

} // namespace nvmecuse::ctrlr
