// Command builders of the NVMe/TCP host. See fabrics_commands.hpp.
#include "fabrics_commands.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include "nvmecuse/spec/authentication.hpp"

namespace nvmecuse::transport::tcp {

namespace {
using nvme::FabricsCommandType;
namespace fab = nvme::fabrics;

template <std::size_t N> void copy_nqn(std::array<char, N>& field, std::string_view nqn) noexcept
{
    field.fill('\0');
    const std::size_t n = std::min(nqn.size(), N - 1); // keep the NUL
    std::copy_n(nqn.data(), n, field.data());
}

nvme::SubmissionQueueEntry admin(nvme::AdminOpcode opc) noexcept
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = static_cast<std::uint8_t>(opc);
    return sqe;
}

} // namespace

nvme::SubmissionQueueEntry connect_command(const ConnectParams& params) noexcept
{
    fab::ConnectCommand c{};
    c.opcode = fab::opcode;
    c.fctype = static_cast<std::uint8_t>(FabricsCommandType::connect);
    c.recfmt = 0;
    c.qid = params.qid;
    c.sqsize = params.sqsize;
    c.kato = params.qid == 0 ? params.kato_ms : 0;
    return fab::to_sqe(c);
}

fab::ConnectData connect_data(const ConnectParams& params) noexcept
{
    fab::ConnectData d{};
    d.hostid = params.hostid;
    d.cntlid = params.cntlid;
    copy_nqn(d.subnqn, params.subnqn);
    copy_nqn(d.hostnqn, params.hostnqn);
    return d;
}

nvme::SubmissionQueueEntry property_get(std::uint32_t offset) noexcept
{
    return nvme::fabrics::property_get_sqe(offset);
}

nvme::SubmissionQueueEntry property_set(std::uint32_t offset, std::uint64_t value) noexcept
{
    return nvme::fabrics::property_set_sqe(offset, value);
}

nvme::SubmissionQueueEntry keep_alive() noexcept
{
    return admin(nvme::AdminOpcode::keep_alive);
}

nvme::SubmissionQueueEntry identify_controller() noexcept
{
    auto sqe = admin(nvme::AdminOpcode::identify);
    nvme::cmd::identify::Cns::set(sqe, static_cast<std::uint32_t>(nvme::Cns::controller));
    return sqe;
}

nvme::SubmissionQueueEntry authentication(FabricsCommandType type, std::uint32_t length) noexcept
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = fab::opcode;
    // FCTYPE is byte 4, where NSID sits in other commands.
    sqe.nsid = static_cast<std::uint32_t>(type);
    std::uint32_t cdw10 = 0;
    cdw10 = nvme::auth::cdw10::Secp::set(cdw10, nvme::auth::secp_dhchap);
    cdw10 = nvme::auth::cdw10::Spsp1::set(cdw10, nvme::auth::spsp_dhchap);
    cdw10 = nvme::auth::cdw10::Spsp0::set(cdw10, nvme::auth::spsp_dhchap);
    sqe.cdw10 = cdw10;
    sqe.cdw11 = length;
    return sqe;
}

nvme::SubmissionQueueEntry authentication_send(std::uint32_t length) noexcept
{
    return authentication(FabricsCommandType::authentication_send, length);
}

nvme::SubmissionQueueEntry authentication_receive(std::uint32_t length) noexcept
{
    return authentication(FabricsCommandType::authentication_receive, length);
}

nvme::SubmissionQueueEntry discovery_log(std::uint64_t offset, std::uint32_t bytes) noexcept
{
    auto sqe = admin(nvme::AdminOpcode::get_log_page);
    namespace glp = nvme::cmd::get_log_page;
    glp::Lid::set(sqe, static_cast<std::uint32_t>(nvme::LogPageId::discovery));
    glp::set_num_dwords(sqe, std::max<std::uint32_t>(bytes / 4, 1));
    glp::set_lpo(sqe, offset);
    return sqe;
}

const std::array<std::uint8_t, 16>& process_host_id()
{
    static const std::array<std::uint8_t, 16> id = [] {
        std::array<std::uint8_t, 16> u{};
        std::random_device rd;
        for (std::size_t i = 0; i < u.size(); i += 4) {
            const auto v = rd();
            for (std::size_t k = 0; k < 4; ++k)
                u[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
        }
        u[6] = static_cast<std::uint8_t>((u[6] & 0x0fu) | 0x40u); // version 4
        u[8] = static_cast<std::uint8_t>((u[8] & 0x3fu) | 0x80u); // RFC 4122 variant
        return u;
    }();
    return id;
}

std::string host_nqn_of(const std::array<std::uint8_t, 16>& hostid)
{
    std::string s = "nqn.2014-08.org.nvmexpress:uuid:";
    for (std::size_t i = 0; i < hostid.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02x", hostid[i]);
        s += hex;
    }
    return s;
}

} // namespace nvmecuse::transport::tcp
