// The NVMe/TCP host's Transport: one controller association = the admin
// queue connection plus one connection per I/O queue (NVMe-oF 1.1, 3.2;
// NVMe/TCP Transport 1.0, 3.1). connect() builds it; discover() uses it
// for a discovery controller.
//
// Threading: constructed and connected on any thread, then driven only by
// the controller's owner thread (the Transport contract).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "queue.hpp"
#include "socket.hpp"

namespace nvmecuse::transport::tcp {

/// The queues of one association: when one connection fails, the
/// association is lost and every queue of it is dropped (as Linux nvme-tcp
/// error recovery tears down all queues).
struct Association {
    std::vector<TcpQueue*> queues;
    bool failed = false;
    /// Failed on its own (any reason but operation_canceled, which is the
    /// host's own teardown); `lost_fd` (an eventfd, if >= 0) is then signalled.
    bool lost = false;
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

    /// TCP connect, ICReq/ICResp, Fabrics Connect (admin, KATO), Property
    /// Get CAP and VS. Any thread (before the transport is handed over).
    [[nodiscard]] std::expected<void, std::error_code> connect_admin();

    // ---- Transport ----------------------------------------------------------
    [[nodiscard]] const TransportInfo& info() const override { return info_; }
    /// Reconnects the admin queue if reset() closed it, sets CC.EN and waits
    /// for CSTS.RDY within CAP.TO, learns IOCCSZ from Identify Controller and
    /// starts Keep Alive.
    [[nodiscard]] std::expected<void, std::error_code> enable() override;
    /// The admin queue; after a lost association or a failed reconnect, the
    /// last one (failed: it refuses with not_connected) until enable() succeeds.
    [[nodiscard]] QueuePair& admin_queue() override { return *admin_; }
    /// Another TCP connection, ICReq/ICResp, Fabrics Connect of `qid` with the
    /// controller's CNTLID.
    [[nodiscard]] std::expected<std::unique_ptr<QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override;
    /// CC.EN=0 (best effort), then every connection of the association closes.
    [[nodiscard]] std::expected<void, std::error_code> reset() override;
    /// CC.SHN normal, waits for CSTS.SHST complete (5 s at most), closes.
    void shutdown() override;
    /// An epoll set of the Keep Alive timerfd (KATO/2) and the eventfd an
    /// association signals when it is lost.
    [[nodiscard]] int event_fd() const override { return events_.get(); }
    /// Consumes both; on a timer tick sends Keep Alive, or drops the
    /// association when the previous one is still unanswered after KATO.
    void handle_event() override;
    /// The current association failed on its own; reset() starts a new one.
    [[nodiscard]] bool connection_lost() const override { return association_->lost; }

    // ---- for discover() -----------------------------------------------------
    [[nodiscard]] TcpQueue& admin() { return *admin_; }
    [[nodiscard]] Clock::time_point command_deadline() const
    {
        return Clock::now() + options_.connect_timeout;
    }

private:
    TcpController() = default;
    /// Property Get/Set on the admin queue, waiting until `deadline`
    /// (default: command_deadline()).
    [[nodiscard]] std::expected<std::uint64_t, std::error_code>
    get_property(std::uint32_t offset, std::optional<Clock::time_point> deadline = std::nullopt);
    [[nodiscard]] std::expected<void, std::error_code>
    set_property(std::uint32_t offset, std::uint64_t value,
                 std::optional<Clock::time_point> deadline = std::nullopt);
    [[nodiscard]] std::expected<void, std::error_code> connect_queue(TcpQueue& q, std::uint16_t qid,
                                                                     std::uint16_t sqsize);
    [[nodiscard]] std::uint32_t enabled_cc() const noexcept;
    void learn_in_capsule_size();
    void arm_keep_alive(bool on);
    void new_association();
    [[nodiscard]] std::expected<void, std::error_code>
    wait_csts(bool (*done)(std::uint32_t), Clock::time_point deadline, const char* what);

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
    UniqueFd timer_;
    UniqueFd lost_;   ///< eventfd: an association was lost
    UniqueFd events_; ///< epoll of timer_ and lost_ (event_fd())
    bool keep_alive_outstanding_ = false;
    Clock::time_point keep_alive_sent_{};
};

} // namespace nvmecuse::transport::tcp
