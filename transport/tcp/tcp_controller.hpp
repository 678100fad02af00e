// The NVMe/TCP host's Transport: one controller association = the admin
// queue connection plus one connection per I/O queue (NVMe-oF 1.1, 3.2;
// NVMe/TCP Transport 1.0, 3.1). connect() builds it; discover() uses it
// for a discovery controller.
//
// Threading: constructed and connected on any thread, then driven by the
// controller's owner thread; its I/O queues may be lent to serving threads
// (TransportInfo::concurrent_queues; see Association).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "authentication.hpp"
#include "queue.hpp"
#include "socket.hpp"

namespace nvmecuse::transport::tcp {

/// The queues of one association: when one connection fails, the
/// association is lost and every queue of it is dropped (as Linux nvme-tcp
/// error recovery tears down all queues). Thread-safe: I/O queues may be
/// driven by serving threads (TransportInfo::concurrent_queues), and the
/// first one to see the connection fail drops the others (each under its
/// own lock); later failers return at once, so no thread waits for a queue
/// while another waits for its.
struct Association {
    std::recursive_mutex mutex; ///< guards `queues`; held while fail() drops them
    std::vector<TcpQueue*> queues;
    std::atomic<bool> failed{false};
    /// Failed on its own (any reason but operation_canceled, which is the
    /// host's own teardown); `lost_fd` (an eventfd, if >= 0) is then signalled.
    std::atomic<bool> lost{false};
    int lost_fd = -1;
    void fail(std::error_code reason);
    void add(TcpQueue& q, const std::shared_ptr<Association>& self);
    void remove(const TcpQueue* q);
};

/// Admin queue depth in the Connect command: 32 entries (SQSIZE 31), as
/// Linux NVME_AQ_DEPTH; the core gets 30 of them, Keep Alive and the
/// transport's own commands the rest.
inline constexpr std::uint16_t admin_sqsize = 31;
inline constexpr std::uint16_t admin_core_depth = 30;
/// I/O queue depth cap (nvmet's MQES is 1023).
inline constexpr std::uint16_t max_io_queue_depth = 1024;

class TcpController final : public Transport {
public:
    /// Resolves the address and sets everything up; no I/O yet.
    [[nodiscard]] static std::expected<std::unique_ptr<TcpController>, std::error_code>
    create(const TransportId& id, const TcpOptions& options);
    ~TcpController() override;

    // ---- Transport ----------------------------------------------------------
    [[nodiscard]] const TransportInfo& info() const override { return info_; }
    /// TCP connect, ICReq/ICResp, Fabrics Connect (admin, KATO); keeps an
    /// association that is still up. Blocks up to the connect timeout.
    [[nodiscard]] std::expected<void, std::error_code> connect_admin() override;
    /// The admin queue; after a lost association or a failed reconnect, the
    /// last one (failed: it refuses with not_connected) until connect_admin() succeeds.
    [[nodiscard]] QueuePair& admin_queue() override { return *admin_; }
    /// Learns the in-capsule data size of I/O queues from IOCCSZ.
    void controller_identified(const nvme::IdentifyController& id) override;
    /// Another TCP connection, ICReq/ICResp, Fabrics Connect of `qid` with the
    /// controller's CNTLID.
    [[nodiscard]] std::expected<std::unique_ptr<QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override;
    /// Every connection of the association closes.
    void disconnect() override;
    /// The eventfd an association signals when it is lost.
    [[nodiscard]] int event_fd() const override { return lost_.get(); }
    void handle_event() override;
    /// The current association failed on its own; connect_admin() starts a new one.
    [[nodiscard]] bool connection_lost() const override { return association_->lost; }
    /// Drops the admin connection (Keep Alive went unanswered): the
    /// association is lost.
    void fail_connection() override;

private:
    TcpController() = default;
    /// The bound of one connection step from now (connect_timeout).
    [[nodiscard]] Clock::time_point command_deadline() const
    {
        return Clock::now() + options_.connect_timeout;
    }
    [[nodiscard]] std::expected<void, std::error_code> connect_queue(TcpQueue& q, std::uint16_t qid,
                                                                     std::uint16_t sqsize);
    void new_association();

    TransportId id_;
    TcpOptions options_;
    SocketAddress address_;
    std::string subnqn_;
    std::string hostnqn_;
    std::array<std::uint8_t, 16> hostid_{};
    TransportInfo info_;
    std::shared_ptr<Association> association_ = std::make_shared<Association>();
    std::unique_ptr<TcpQueue> admin_;
    std::uint16_t cntlid_ = 0;
    std::uint32_t io_in_capsule_ = 0; ///< from IOCCSZ; 0 until Identify
    DhchapKeys dhchap_;
    std::uint16_t auth_transaction_ = 0; ///< T_ID of the next DH-HMAC-CHAP transaction
    UniqueFd lost_; ///< eventfd: an association was lost
};

} // namespace nvmecuse::transport::tcp
