// A small NVMe/TCP controller for the host's unit tests: listens on
// 127.0.0.1 (an ephemeral port), serves each connection on a thread of its
// own with blocking sockets, and speaks enough of the protocol for the host
// and ctrlr::Controller: ICReq/ICResp with digests, Fabrics Connect,
// Property Get/Set (CC.EN -> CSTS.RDY, CC.SHN -> CSTS.SHST), Identify (a
// discovery controller's, without namespaces, on the discovery NQN),
// Set Features, Keep Alive, AERs (held), Get Log Page (Discovery), Read
// (C2HData, optionally with SUCCESS) and Write (in-capsule or R2T +
// H2CData) on a RAM namespace, DH-HMAC-CHAP when configured. Faults can be
// injected one at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"

#include "tcp_test_target_auth.hpp"

namespace tcp_test {

struct TargetConfig {
    bool header_digest = true; ///< granted when the host asks
    bool data_digest = true;
    std::uint32_t maxh2cdata = 8192;      ///< small: a 1 MiB write takes many H2CData PDUs
    std::uint32_t c2h_chunk = 48 * 1024;  ///< bytes per C2HData PDU
    std::uint32_t r2t_chunk = 256 * 1024; ///< bytes per R2T
    std::uint32_t in_capsule = 4096;      ///< IOCCSZ = (64 + this) / 16
    bool c2h_success = false;             ///< reads end with SUCCESS instead of a CapsuleResp
    std::uint64_t namespace_bytes = 4u << 20;
    std::uint8_t lbads = 9;                         ///< 512-byte blocks
    std::vector<nvme::DiscoveryLogEntry> discovery; ///< Get Log Page 70h entries
    bool ipv6 = false;                              ///< listen on [::1] instead of 127.0.0.1
    int receive_buffer = 0; ///< SO_RCVBUF of the target's sockets; 0 = the kernel's
    /// With a host key, every Connect answers AUTHREQ.ATR and the queue
    /// serves nothing but Authentication Send/Receive until DH-HMAC-CHAP succeeds.
    TargetAuthConfig auth;
};

/// One fault, applied to the next command it fits, then cleared.
enum class Fault : std::uint8_t {
    none,
    disconnect_mid_c2h,       ///< read: half the data, then close
    c2h_short,                ///< read: half the data, then a successful CapsuleResp
    r2t_bad_offset,           ///< write: R2T starting at 4096 instead of 0
    r2t_beyond_length,        ///< write: R2T asking for more than the command has
    corrupt_header_digest,    ///< read: CapsuleResp with a wrong HDGST
    corrupt_data_digest,      ///< read: C2HData with a wrong DDGST
    c2h_beyond_length,        ///< read: C2HData 512 bytes longer than the command
    c2h_second_beyond_length, ///< read: the first half, then C2HData 4 KiB past the end
    c2h_offset_beyond_length, ///< read: C2HData at DATAO = the command's length
    c2h_unknown_cid,          ///< read: C2HData for a cid nobody sent
    capsule_resp_unknown_cid, ///< any I/O: the CapsuleResp names another cid
    unknown_pdu_type,         ///< read: a PDU of type 0Bh instead of the data
    c2h_term_req,             ///< read: a C2HTermReq instead of the data
    random_pdus,              ///< read: PDUs with random fields (seeded), then close
    stall_after_r2t,          ///< write: stop reading for 300 ms after the R2T
    ignore_keep_alive,        ///< every Keep Alive from now on goes unanswered
    reject_connect,           ///< admin Connect fails with Connect Invalid Host
    ignore_property_set,      ///< the next Property Set goes unanswered
};

class TestTarget {
public:
    explicit TestTarget(TargetConfig config = {});
    ~TestTarget();
    TestTarget(const TestTarget&) = delete;
    TestTarget& operator=(const TestTarget&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string port_string() const { return std::to_string(port_); }
    void inject(Fault f) noexcept { fault_.store(f); }
    /// Replaces the Discovery Log Page's entries; only while no connection
    /// is open (connections read them unlocked).
    void set_discovery(std::vector<nvme::DiscoveryLogEntry> entries)
    {
        config_.discovery = std::move(entries);
    }
    /// Seed of Fault::random_pdus.
    void seed(std::uint32_t s) noexcept { seed_.store(s); }
    [[nodiscard]] Fault pending_fault() const noexcept { return fault_.load(); }

    /// Closes every connection now (the host sees the peer gone).
    void drop_connections();
    /// While on, connections are accepted and closed at once (a target
    /// that is down); the host's connect attempts fail fast.
    void refuse_connections(bool on) noexcept { refusing_.store(on); }
    /// While on, connections are accepted and then never read or answered
    /// (a target that hangs): the host's ICReq waits for its connect
    /// timeout. Turning it off closes the connections held so far.
    void silence_connections(bool on);

    /// Copies of the namespace's bytes, for checking what a write left there.
    [[nodiscard]] std::vector<std::byte> read_namespace(std::size_t offset, std::size_t length);
    void fill_namespace(std::size_t offset, std::span<const std::byte> bytes);

    // What the host did (any thread).
    std::atomic<int> connections{0};
    std::atomic<int> refused{0}; ///< connections closed by refuse_connections()
    std::atomic<int> silenced{0}; ///< connections held by silence_connections()
    std::atomic<int> admin_connects{0};
    std::atomic<int> io_connects{0};
    std::atomic<int> keep_alives{0};
    std::atomic<int> in_capsule_writes{0};
    std::atomic<int> r2t_writes{0};
    std::atomic<int> h2c_pdus{0};
    std::atomic<std::uint32_t> largest_h2c{0};
    std::atomic<int> term_reqs{0};
    std::atomic<std::uint32_t> last_term_fes{0};
    std::atomic<std::uint32_t> kato{0};
    std::atomic<std::uint32_t> admin_sqsize{0};
    std::atomic<std::uint32_t> io_sqsize{0};
    std::atomic<std::uint32_t> cc{0};
    std::atomic<bool> shutdown_seen{false};
    std::atomic<bool> header_digest_used{false};
    std::atomic<bool> data_digest_used{false};
    std::atomic<int> log_page_reads{0};
    std::atomic<int> authentications{0}; ///< queues that authenticated
    std::atomic<int> auth_failures1{0};  ///< AUTH_Failure1 sent (the host's response was wrong)
    std::atomic<int> auth_failures2{0};  ///< AUTH_Failure2 received (the host gave up)
    std::atomic<int> unauthenticated_commands{0}; ///< refused with Authentication Required
    [[nodiscard]] std::string host_nqn();

private:
    friend class Connection;
    void accept_loop();
    void serve(int fd);

    TargetConfig config_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<Fault> fault_{Fault::none};
    std::atomic<std::uint32_t> seed_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> refusing_{false};
    std::atomic<bool> silencing_{false};
    std::thread acceptor_;
    std::mutex mutex_; ///< guards everything below
    std::vector<int> fds_;
    std::vector<int> silent_fds_;
    std::vector<std::thread> threads_;
    std::vector<std::byte> storage_;
    std::string host_nqn_;
    std::uint32_t csts_ = 0;
};

} // namespace tcp_test
