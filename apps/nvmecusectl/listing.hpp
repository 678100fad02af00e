// nvmecusectl list and list-subsys: controller_list's answer as nvme-cli
// 2.x's `nvme list` and `nvme list-subsys` print theirs (table and -o json).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nvmecusectl {

/// The table: a row per namespace node (Node, SN, Model, Namespace, Usage,
/// Format, FW Rev as nvme list), then Transport and State; a controller
/// without namespaces gets a row of its own node. Pure.
[[nodiscard]] std::string list_table(const nlohmann::json& controllers);

/// nvme-cli 2.3's nvme list -o json shape (Debian 12's: {"Devices": [...]},
/// one per namespace node: NameSpace, DevicePath, Firmware, ModelNumber,
/// SerialNumber, UsedBytes, MaximumLBA, PhysicalSize, SectorSize; later
/// 2.x add GenericPath), each with "Controller", "Transport" and "State"
/// added. Pure.
[[nodiscard]] nlohmann::json list_json(const nlohmann::json& controllers);


/// nvmecusectl list-subsys: the controllers grouped by Host NQN and
/// subsystem NQN, as nvme-cli 2.x's `nvme list-subsys` prints them:
/// "nvme-subsys<N> - NQN=<nqn>", an indented "hostnqn=<host NQN>", "\",
/// then " +- <controller> <transport> <address> <state>" per controller;
/// a blank line between subsystems. N is the lowest controller index of
/// the subsystem; the address is "traddr=A,trsvcid=P" (NVMe/TCP, as the
/// kernel's sysfs address), the PCI address, or "emulated". Pure.
[[nodiscard]] std::string subsys_table(const nlohmann::json& controllers);

/// The same as nvme list-subsys -o json: [{"HostNQN", "Subsystems":
/// [{"Name", "NQN", "Paths": [{"Name", "Transport", "Address", "State"}]}]}],
/// one object per Host NQN. Pure.
[[nodiscard]] nlohmann::json subsys_json(const nlohmann::json& controllers);

/// discovery_log's answer as nvme discover prints a log: "Discovery Log
/// Number of Records N", then per record "=====Discovery Log Entry i======"
/// and its trtype, adrfam, subtype, trsvcid, subnqn and traddr lines. Pure.
[[nodiscard]] std::string discovery_text(const nlohmann::json& log);

} // namespace nvmecusectl
