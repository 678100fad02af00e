// Connection setup rules: what a host accepts in an ICResp (NVMe TCP
// Transport 1.0, 3.1 "Setup & Initialization", 3.3.1.1, 3.6.2.3).
#include "nvmecuse/transport/tcp/pdu.hpp"

#include "nvmecuse/transport/tcp/pdu_parser.hpp"

namespace nvmecuse::transport::tcp {

std::expected<NegotiatedConnection, ParseError> accept_ic_resp(const ICResp& resp,
                                                               const ICReqParams& sent) noexcept
{
    // Checked in field order, so that the FEI names the lowest bad offset.
    if (resp.pfv != pfv_1_0) return std::unexpected(ParseError::ic_resp_unsupported_pfv);
    if (resp.cpda > max_pda) return std::unexpected(ParseError::ic_resp_invalid_cpda);
    // A digest the host did not ask for (or a reserved DGST bit) is an
    // Invalid PDU Header Field; one the controller declines is simply off.
    if ((resp.dgst & ~dgst_of(sent.digests)) != 0)
        return std::unexpected(ParseError::ic_resp_digest_not_requested);
    // "a multiple of dwords and should be no less than 4,096"; Linux's host
    // refuses both, and so do we.
    if (resp.maxh2cdata < min_maxh2cdata || resp.maxh2cdata % 4 != 0)
        return std::unexpected(ParseError::ic_resp_invalid_maxh2cdata);
    return NegotiatedConnection{
        .digests = digests_of(resp.dgst),
        .cpda = resp.cpda,
        .hpda = sent.hpda,
        .maxh2cdata = resp.maxh2cdata,
    };
}

} // namespace nvmecuse::transport::tcp
