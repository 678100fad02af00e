// nvmecusectl's listings (apps/nvmecusectl/listing.cpp) from controller_list
// answers: list-subsys groups controllers by subsystem NQN as nvme-cli's
// `nvme list-subsys` prints them.
#include <gtest/gtest.h>

#include "apps/nvmecusectl/listing.hpp"

namespace {

using nlohmann::json;

json controller(std::string name, unsigned index, json trid, std::string subnqn,
                std::string state = "live", std::string activity = "")
{
    json c{{"name", std::move(name)}, {"index", index}, {"state", std::move(state)},
           {"activity", std::move(activity)}, {"trid", std::move(trid)}};
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
});

TEST(NvmecusectlListing, ListSubsysGroupsControllersBySubsystemNqn)
{
    EXPECT_EQ(nvmecusectl::subsys_table(controllers),
              "nvme-subsys0 - NQN=nqn.2026-11.io.nvmecuse:emulated\n"
              "\\\n"
              " +- nvme0 emulated emulated live\n"
              "nvme-subsys1 - NQN=nqn.2026-11.io.example:disk\n"
              "\\\n"
              " +- nvme1 tcp traddr=127.0.0.1,trsvcid=4420 live\n"
              " +- nvme3 tcp traddr=127.0.0.1,trsvcid=4421 connecting,detaching\n"
              "nvme-subsys2 - NQN=nqn.2026-11.io.example:ssd\n"
              "\\\n"
              " +- Nvme0 pcie 0000:00:04.0 resetting\n"
              "nvme-subsys4 - NQN=-\n"
              "\\\n"
              " +- nvme4 tcp traddr=10.0.0.9,trsvcid=4420 live\n");
}

TEST(NvmecusectlListing, ListSubsysJsonHasNvmeClisShape)
{
    const json out = nvmecusectl::subsys_json(controllers);
    ASSERT_EQ(out.size(), 1u);
    const json& subsystems = out[0]["Subsystems"];
    ASSERT_EQ(subsystems.size(), 4u);
    EXPECT_EQ(subsystems[1]["Name"], "nvme-subsys1");
    EXPECT_EQ(subsystems[1]["NQN"], "nqn.2026-11.io.example:disk");
    ASSERT_EQ(subsystems[1]["Paths"].size(), 2u);
    EXPECT_EQ(subsystems[1]["Paths"][1],
              (json{{"Name", "nvme3"}, {"Transport", "tcp"},
                    {"Address", "traddr=127.0.0.1,trsvcid=4421"}, {"State", "connecting,detaching"}}));
    EXPECT_EQ(nvmecusectl::subsys_json(json::array()), json::array({{{"Subsystems", json::array()}}}));
}

} // namespace
