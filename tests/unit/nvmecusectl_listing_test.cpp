// nvmecusectl's listings (apps/nvmecusectl/listing.cpp) from controller_list
// answers: list prints nvme list's columns and nvme-cli 2.3's
// `nvme list -o json` keys; list-subsys groups controllers by subsystem NQN
// as nvme-cli's `nvme list-subsys` prints them.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <vector>

#include "apps/nvmecusectl/listing.hpp"

namespace {

using nlohmann::json;

const std::string host_a = "nqn.2014-08.org.nvmexpress:uuid:7e3b1a2c-58d4-4f6e-9a1b-2c3d4e5f6a7b";
const std::string host_b = "nqn.2026-11.io.example:other-host";

json controller(std::string name, unsigned index, json trid, std::string subnqn,
                std::string state = "live", std::string activity = "", std::string host = host_a)
{
    json c{{"name", std::move(name)}, {"index", index}, {"state", std::move(state)},
           {"activity", std::move(activity)}, {"trid", std::move(trid)}, {"hostnqn", std::move(host)}};
    c["transport"] = c["trid"].is_object() ? c["trid"]["trtype"] : json("emulated");
    if (!subnqn.empty()) c["subnqn"] = std::move(subnqn);
    return c;
}

json tcp(const char* traddr, const char* trsvcid)
{
    return json{{"trtype", "tcp"}, {"traddr", traddr}, {"trsvcid", trsvcid}};
}

const json controllers = json::array({
    controller("nvme0", 0, nullptr, "nqn.2026-11.io.nvmecuse:emulated"),
    controller("nvme1", 1, tcp("127.0.0.1", "4420"), "nqn.2026-11.io.example:disk"),
    controller("Nvme0", 2, json{{"trtype", "pcie"}, {"traddr", "0000:00:04.0"}},
               "nqn.2026-11.io.example:ssd", "resetting"),
    controller("nvme3", 3, tcp("127.0.0.1", "4421"), "nqn.2026-11.io.example:disk", "connecting",
               "detaching"),
    controller("nvme4", 4, tcp("10.0.0.9", "4420"), ""),
    controller("nvme5", 5, tcp("127.0.0.1", "4422"), "nqn.2026-11.io.example:disk", "live", "", host_b),
});

/// controller_list's entry of a live emulated controller with one 1 GiB
/// namespace of 512-byte blocks, a quarter used, and its node.
json with_namespace()
{
    json c = controller("nvme0", 0, nullptr, "nqn.2026-11.io.nvmecuse:emulated");
    c.update({{"node", "/dev/nvmecuse/nvme0"},
              {"serial_number", "NVC0000000001"},
              {"model_number", "nvmecuse Emulated NVMe SSD"},
              {"firmware_revision", "1.0.0"},
              {"namespaces", json::array({{{"nsid", 1},
                                           {"node", "/dev/nvmecuse/nvme0n1"},
                                           {"nsze", 2097152},
                                           {"ncap", 2097152},
                                           {"nuse", 524288},
                                           {"lba_data_size", 512},
                                           {"metadata_size", 0}}})}});
    return c;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

TEST(NvmecusectlListing, ListHasNvmeListsColumnsThenTransportAndState)
{
    json unregistered = controller("Nvme1", 1, tcp("127.0.0.1", "4420"), "nqn.2026-11.io.example:disk");
    unregistered["namespaces"] = json::array({{{"nsid", 1}, {"node", nullptr}, {"lba_data_size", 512}}});
    unregistered["node"] = nullptr;
    const auto lines = lines_of(nvmecusectl::list_table(json::array({with_namespace(), unregistered})));
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_TRUE(std::regex_match(
        lines[0], std::regex("Node +SN +Model +Namespace +Usage +Format +FW Rev +Transport +State")))
        << lines[0];
    EXPECT_TRUE(std::regex_match(lines[1], std::regex("[- ]+"))) << lines[1];
    // nvme-cli's units: decimal, "used / size", "LBA + metadata".
    EXPECT_TRUE(std::regex_match(
        lines[2], std::regex("/dev/nvmecuse/nvme0n1 +NVC0000000001 +nvmecuse Emulated NVMe SSD +1 +"
                             "268\\.44  MB /   1\\.07  GB +512   B \\+  0 B +1\\.0\\.0 +emulated +live")))
        << lines[2];
    // Each value starts under its heading, as in nvme list.
    for (const auto& [heading, value] : std::vector<std::pair<std::string, std::string>>{
             {"SN", "NVC0000000001"}, {"Model", "nvmecuse Emulated"}, {"Usage", "268.44"},
             {"FW Rev", "1.0.0"}, {"Transport", "emulated"}, {"State", "live"}})
        EXPECT_EQ(lines[0].find(heading), lines[2].find(value)) << heading;
    // A controller without nodes (bdev_nvme_attach_controller) is listed by name.
    EXPECT_TRUE(std::regex_match(lines[3], std::regex("Nvme1 +- +- +- +- +- +- +tcp +live")))
        << lines[3];
}

TEST(NvmecusectlListing, ListJsonHasNvmeCli23sKeysForEachNamespaceNode)
{
    json unregistered = with_namespace();
    unregistered["name"] = "Nvme1";
    unregistered["namespaces"][0]["node"] = nullptr;
    const json out = nvmecusectl::list_json(json::array({with_namespace(), unregistered}));
    ASSERT_EQ(out["Devices"].size(), 1u) << out.dump(); // a namespace without a node is not listed
    const json& d = out["Devices"][0];
    // nvme-cli 2.3's keys (the guest suite control-plane compares them with
    // its nvme list -o json), then ours.
    std::vector<std::string> keys;
    for (const auto& [key, value] : d.items())
        keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"Controller", "DevicePath", "Firmware",
                                              "MaximumLBA", "ModelNumber", "NameSpace",
                                              "PhysicalSize", "SectorSize", "SerialNumber",
                                              "State", "Transport", "UsedBytes"}));
    EXPECT_EQ(d["NameSpace"], 1);
    EXPECT_EQ(d["DevicePath"], "/dev/nvmecuse/nvme0n1");
    EXPECT_EQ(d["SerialNumber"], "NVC0000000001");
    EXPECT_EQ(d["ModelNumber"], "nvmecuse Emulated NVMe SSD");
    EXPECT_EQ(d["Firmware"], "1.0.0");
    EXPECT_EQ(d["UsedBytes"], 524288u * 512);
    EXPECT_EQ(d["MaximumLBA"], 2097152u);
    EXPECT_EQ(d["PhysicalSize"], 2097152u * 512);
    EXPECT_EQ(d["SectorSize"], 512);
    EXPECT_EQ(d["Controller"], "nvme0");
    EXPECT_EQ(d["Transport"], "emulated");
    EXPECT_EQ(d["State"], "live");
    EXPECT_EQ(nvmecusectl::list_json(json::array()), (json{{"Devices", json::array()}}));
}

TEST(NvmecusectlListing, DiscoverPrintsTheLogAsNvmeDiscover)
{
    const json log{{"genctr", 12},
                   {"records", json::array({{{"trtype", "tcp"},
                                             {"adrfam", "ipv4"},
                                             {"subtype", "nvme subsystem"},
                                             {"treq", "not specified"},
                                             {"portid", 1},
                                             {"trsvcid", "4420"},
                                             {"subnqn", "nqn.2026-11.io.example:disk"},
                                             {"traddr", "192.168.1.7"},
                                             {"eflags", "none"},
                                             {"sectype", "none"}}})}};
    EXPECT_EQ(nvmecusectl::discovery_text(log),
              "\nDiscovery Log Number of Records 1, Generation counter 12\n"
              "=====Discovery Log Entry 0======\n"
              "trtype:  tcp\n"
              "adrfam:  ipv4\n"
              "subtype: nvme subsystem\n"
              "treq:    not specified\n"
              "portid:  1\n"
              "trsvcid: 4420\n"
              "subnqn:  nqn.2026-11.io.example:disk\n"
              "traddr:  192.168.1.7\n"
              "eflags:  none\n"
              "sectype: none\n");
    EXPECT_EQ(nvmecusectl::discovery_text(json{{"genctr", 3}, {"records", json::array()}}),
              "\nDiscovery Log Number of Records 0, Generation counter 3\n");
}

TEST(NvmecusectlListing, ListSubsysGroupsControllersByHostThenSubsystemNqn)
{
    const std::string pad(std::string("nvme-subsys0").size() + 3, ' ');
    EXPECT_EQ(nvmecusectl::subsys_table(controllers),
              "nvme-subsys0 - NQN=nqn.2026-11.io.nvmecuse:emulated\n" +
                  pad + "hostnqn=" + host_a + "\n"
                  "\\\n"
                  " +- nvme0 emulated emulated live\n"
                  "\n"
                  "nvme-subsys1 - NQN=nqn.2026-11.io.example:disk\n" +
                  pad + "hostnqn=" + host_a + "\n"
                  "\\\n"
                  " +- nvme1 tcp traddr=127.0.0.1,trsvcid=4420 live\n"
                  " +- nvme3 tcp traddr=127.0.0.1,trsvcid=4421 connecting,detaching\n"
                  "\n"
                  "nvme-subsys2 - NQN=nqn.2026-11.io.example:ssd\n" +
                  pad + "hostnqn=" + host_a + "\n"
                  "\\\n"
                  " +- Nvme0 pcie 0000:00:04.0 resetting\n"
                  "\n"
                  "nvme-subsys4 - NQN=-\n" +
                  pad + "hostnqn=" + host_a + "\n"
                  "\\\n"
                  " +- nvme4 tcp traddr=10.0.0.9,trsvcid=4420 live\n"
                  "\n"
                  // Another host's path to the same subsystem: its own entry, the same name.
                  "nvme-subsys1 - NQN=nqn.2026-11.io.example:disk\n" +
                  pad + "hostnqn=" + host_b + "\n"
                  "\\\n"
                  " +- nvme5 tcp traddr=127.0.0.1,trsvcid=4422 live\n");
}

TEST(NvmecusectlListing, ListSubsysJsonHasNvmeClisShape)
{
    const json out = nvmecusectl::subsys_json(controllers);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["HostNQN"], host_a);
    EXPECT_EQ(out[1]["HostNQN"], host_b);
    const json& subsystems = out[0]["Subsystems"];
    ASSERT_EQ(subsystems.size(), 4u);
    EXPECT_EQ(subsystems[1]["Name"], "nvme-subsys1");
    EXPECT_EQ(subsystems[1]["NQN"], "nqn.2026-11.io.example:disk");
    ASSERT_EQ(subsystems[1]["Paths"].size(), 2u);
    EXPECT_EQ(subsystems[1]["Paths"][1],
              (json{{"Name", "nvme3"}, {"Transport", "tcp"},
                    {"Address", "traddr=127.0.0.1,trsvcid=4421"}, {"State", "connecting,detaching"}}));
    ASSERT_EQ(out[1]["Subsystems"].size(), 1u);
    EXPECT_EQ(out[1]["Subsystems"][0]["Name"], "nvme-subsys1");
    EXPECT_EQ(out[1]["Subsystems"][0]["Paths"][0]["Name"], "nvme5");
    EXPECT_EQ(nvmecusectl::subsys_json(json::array()), json::array());
}

} // namespace
