#pragma once

#include <cstdint>
#include <string>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::demo {

/// `nvme list`-style table of a controller's active namespaces.
std::string format_namespace_table(const std::string& name, const ctrlr::ControllerInfo& info);
/// The main fields of Identify Controller in the layout of `nvme id-ctrl`.
std::string format_id_ctrl(const nvme::IdentifyController& id);
/// The SMART / Health log in the layout of `nvme smart-log`.
std::string format_smart_log(const std::string& name, const nvme::SmartHealthLog& log);

} // namespace nvmecuse::demo
