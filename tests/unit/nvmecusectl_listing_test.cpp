// nvmecusectl's listings (apps/nvmecusectl/listing.cpp) from controller_list
// answers: list-subsys groups controllers by subsystem NQN as nvme-cli's
// `nvme list-subsys` prints them.
#include <gtest/gtest.h>

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
