#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <system_error>
#include <vector>

#include "namespace_storage.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/emu/config.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::emu {

/// What a command handler decided.
struct Outcome {
    nvme::Status status{};
    std::uint32_t dw0 = 0;
    std::uint32_t dw1 = 0;
    /// The completion is posted later through the async sink (AER).
    bool deferred = false;
    /// For the error log: byte/bit of the command that caused the error
    /// (Parameter Error Location), 0xffff when not applicable.
    std::uint16_t error_location = 0xffff;
    std::uint64_t error_lba = 0;

    Outcome() = default;
    Outcome(nvme::Status s) : status(s) {}  // NOLINT(google-explicit-constructor): handlers return statuses
    static Outcome success(std::uint32_t dw0 = 0, std::uint32_t dw1 = 0)
    {
        Outcome o;
        o.dw0 = dw0;
        o.dw1 = dw1;
        return o;
    }
    static Outcome later()
    {
        Outcome o;
        o.deferred = true;
        return o;
    }
    /// An error whose cause is a field of the command (NVMe Base 2.0, 5.16.1.2:
    /// Parameter Error Location = byte offset in the SQE, bits 10:8 the bit).
    static Outcome field_error(nvme::Status s, std::uint16_t sqe_byte, std::uint8_t bit = 0)
    {
        Outcome o(s);
        o.error_location = static_cast<std::uint16_t>(sqe_byte | (bit << 8));
        return o;
    }
};

/// One command as a handler sees it.
struct CommandContext {
    std::uint16_t qid;                        ///< 0 = admin queue
    const nvme::SubmissionQueueEntry& sqe;
    nvme::DataTransfer direction;
    std::span<std::byte> data;                ///< host data buffer (may be larger than needed)
    std::span<std::byte> metadata;            ///< separate metadata buffer
};

/// One allocated namespace of the emulated controller.
struct EmulatedNamespace {
    std::uint32_t nsid = 0;
    std::uint8_t lbaf_index = 0;              ///< index into EmulatedController::lba_formats
    bool extended_metadata = false;
    std::uint64_t nsze = 0;                   ///< size in logical blocks
    std::uint64_t capacity_bytes = 0;         ///< NVM allocated to it (NVMCAP)
    bool attached = true;
    std::array<std::uint8_t, 16> nguid{};
    std::array<std::uint8_t, 8> eui64{};
    std::array<std::uint8_t, 16> uuid{};
    std::unique_ptr<NamespaceStorage> storage;
    /// Blocks made unreadable by Write Uncorrectable; cleared by writes.
    std::set<std::uint64_t> uncorrectable;
    /// errno of the storage error last logged (0: none), so that a full
    /// file system is logged once, not at every write.
    int storage_errno = 0;

    [[nodiscard]] std::uint32_t lba_data_size() const;
    [[nodiscard]] std::uint16_t metadata_size() const;
};

/// SMART / Health counters that follow what actually happened
/// (NVMe Base 2.0, 5.16.1.3).
struct HealthCounters {
    nvme::Uint128 data_units_read{};      ///< thousands of 512-byte units, rounded up
    nvme::Uint128 data_units_written{};
    nvme::Uint128 host_read_commands{};
    nvme::Uint128 host_write_commands{};
    nvme::Uint128 controller_busy_time{}; ///< minutes
    nvme::Uint128 power_cycles{};
    nvme::Uint128 unsafe_shutdowns{};
    nvme::Uint128 media_errors{};
    std::uint64_t bytes_read = 0;         ///< exact, to derive data units
    std::uint64_t bytes_written = 0;
    std::chrono::nanoseconds busy{0};
};

/// The in-process NVMe controller model ("a plausible SSD").
///
/// Threading: single-threaded; owned and called by the transport's owner
/// thread only. Never throws on the command path: every invalid command gets
/// the status a real controller returns.
class EmulatedController {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    /// Receives completions that happen outside execute() (Asynchronous Event
    /// Requests). Called on the owner thread, from inside execute().
    using AsyncCompletionSink = std::function<void(std::uint16_t cid, const Outcome&)>;

    /// Validates `config` and builds the namespaces (opening backing files).
    [[nodiscard]] static std::expected<std::unique_ptr<EmulatedController>, std::error_code>
    create(ControllerConfig config, Clock clock = {});

    /// Executes one command and returns its completion, or an Outcome with
    /// `deferred` set when the completion comes later through the sink.
    [[nodiscard]] Outcome execute(const CommandContext& command);

    void set_async_sink(AsyncCompletionSink sink) { async_sink_ = std::move(sink); }

    /// Controller Level Reset (CC.EN 1→0): outstanding AERs are dropped,
    /// I/O queues deleted, Number of Queues may be set again, volatile
    /// feature values return to their saved/default values.
    void controller_reset();

    /// I/O queues exist (Number of Queues is no longer changeable).
    void note_io_queue_created(std::uint16_t qid);

    [[nodiscard]] const ControllerConfig& config() const { return config_; }
    [[nodiscard]] std::uint16_t granted_io_queues() const { return granted_io_queues_; }
    /// Allocated namespaces (attached or not), by nsid.
    [[nodiscard]] const std::map<std::uint32_t, EmulatedNamespace>& namespaces() const
    {
        return namespaces_;
    }
    [[nodiscard]] const HealthCounters& health() const { return health_; }

    /// The LBA formats this controller supports (Identify Namespace LBAF0..n).
    static constexpr std::array<nvme::LbaFormat, 8> lba_formats{{
        {.ms = 0, .lbads = 9, .rp = 0},   // 512
        {.ms = 8, .lbads = 9, .rp = 0},   // 512 + 8
        {.ms = 16, .lbads = 9, .rp = 0},  // 512 + 16
        {.ms = 64, .lbads = 9, .rp = 0},  // 512 + 64
        {.ms = 0, .lbads = 12, .rp = 0},  // 4096
        {.ms = 8, .lbads = 12, .rp = 0},  // 4096 + 8
        {.ms = 16, .lbads = 12, .rp = 0}, // 4096 + 16
        {.ms = 64, .lbads = 12, .rp = 0}, // 4096 + 64
    }};
    /// Index of the format with these sizes, if supported.
    [[nodiscard]] static std::optional<std::uint8_t> find_lba_format(std::uint32_t data_size,
                                                                     std::uint16_t metadata_size);

private:
    EmulatedController(ControllerConfig config, Clock clock);

    // ---- dispatch (emulated_controller.cpp, command_table.cpp) ----
    friend struct CommandTable;  // the opcode tables name the private handlers
    Outcome execute_admin(const CommandContext& c);
    Outcome execute_io(const CommandContext& c);
    void record_error(const CommandContext& c, const Outcome& o);
    /// Fills nguid/eui64/uuid of `ns` deterministically from the serial
    /// number and ns.nsid (stable across restarts, distinct per namespace).
    void assign_identifiers(EmulatedNamespace& ns) const;

    // ---- I/O commands (io_commands.cpp) ----
    Outcome io_read(const CommandContext& c);
    Outcome io_write(const CommandContext& c);
    Outcome io_compare(const CommandContext& c);
    Outcome io_flush(const CommandContext& c);
    Outcome io_write_zeroes(const CommandContext& c);
    Outcome io_write_uncorrectable(const CommandContext& c);
    Outcome io_dataset_management(const CommandContext& c);
    Outcome io_verify(const CommandContext& c);

    // ---- Identify (admin_identify.cpp) ----
    Outcome admin_identify(const CommandContext& c);

    // ---- Get Log Page (admin_log_pages.cpp) ----
    Outcome admin_get_log_page(const CommandContext& c);

    // ---- Features (admin_features.cpp) ----
    Outcome admin_get_features(const CommandContext& c);
    Outcome admin_set_features(const CommandContext& c);

    // ---- Namespaces (admin_namespaces.cpp) ----
    Outcome admin_namespace_management(const CommandContext& c);
    Outcome admin_namespace_attachment(const CommandContext& c);
    Outcome admin_format_nvm(const CommandContext& c);

    // ---- Firmware and self-test (admin_firmware.cpp, admin_self_test.cpp) ----
    Outcome admin_firmware_image_download(const CommandContext& c);
    Outcome admin_firmware_commit(const CommandContext& c);
    Outcome admin_device_self_test(const CommandContext& c);

    // ---- Events and housekeeping (async_events.cpp) ----
    Outcome admin_async_event_request(const CommandContext& c);
    Outcome admin_abort(const CommandContext& c);
    Outcome admin_keep_alive(const CommandContext& c);
    /// Queues an asynchronous event; completes an outstanding AER when one
    /// is available and the event type is not masked (NVMe Base 2.0, 5.2).
    void raise_event(nvme::AsyncEventType type, std::uint8_t info, nvme::LogPageId log);
    /// A log page with an event attached was read with RAE=0: unmask.
    void clear_event(nvme::LogPageId log);
    /// Records nsids for the Changed Namespace List log and raises the
    /// Namespace Attribute Changed notice if enabled.
    void namespace_changed(std::uint32_t nsid);

    // ---- identify, log pages, events (emuinfo: admin_identify.cpp,
    //      admin_log_pages.cpp, async_events.cpp) ----
    /// Drops outstanding AERs, queued events and event masks (NVMe Base 2.0,
    /// 3.7.2: AERs are aborted by a Controller Level Reset). To be called by
    /// controller_reset(); the Changed Namespace List is kept.
    void reset_async_events();
    /// Completes outstanding AERs with queued events whose type is not masked.
    void deliver_events();
    /// Reported events awaiting a Get Log Page with RAE=0, by log page: their
    /// type stays masked meanwhile (NVMe Base 2.0, 5.2).
    std::map<nvme::LogPageId, nvme::AsyncEventType> reported_events_;
    /// The Identify and Get Log Page builders (nested, so they may read the
    /// controller state; defined in admin_identify.cpp / admin_log_pages.cpp).
    struct IdentifyBuilder;
    struct LogPageBuilder;

    // ---- helpers shared by handlers ----
    /// The attached namespace for an I/O command, or the status to return.
    std::expected<EmulatedNamespace*, nvme::Status> io_namespace(std::uint32_t nsid);
    [[nodiscard]] bool nsid_in_range(std::uint32_t nsid) const
    {
        return nsid >= 1 && nsid <= config_.max_namespaces;
    }
    /// Copies `bytes` to the host buffer; Data Transfer Error if it is too small.
    static nvme::Status to_host(const CommandContext& c, std::span<const std::byte> bytes,
                                std::size_t offset = 0);
    template <class T> static nvme::Status to_host(const CommandContext& c, const T& value)
    {
        return to_host(c, std::as_bytes(std::span(&value, 1)));
    }
    [[nodiscard]] std::uint64_t allocated_capacity() const;
    [[nodiscard]] std::chrono::steady_clock::time_point now() const { return clock_(); }
    [[nodiscard]] std::uint64_t power_on_hours() const;
    /// Builds the storage for a namespace (file or RAM). A RAM namespace that
    /// would take the RAM namespaces (other than ns.nsid) past ram_budget_
    /// is refused with ENOMEM.
    std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
    make_storage(const EmulatedNamespace& ns, const std::string& backing_file);
    /// Bytes of data + metadata held by RAM namespaces other than `except`.
    [[nodiscard]] std::uint64_t ram_in_use(std::uint32_t except = 0) const;
    /// Whether `bytes` more of RAM namespace fit beside ram_in_use(except).
    [[nodiscard]] bool ram_fits(std::uint64_t bytes, std::uint32_t except = 0) const
    {
        const std::uint64_t used = ram_in_use(except);
        return used <= ram_budget_ && bytes <= ram_budget_ - used;
    }

    ControllerConfig config_;
    /// Memory RAM namespaces may take together: the host's physical memory.
    std::uint64_t ram_budget_ = 0;
    Clock clock_;
    std::chrono::steady_clock::time_point created_at_;
    AsyncCompletionSink async_sink_;

    std::map<std::uint32_t, EmulatedNamespace> namespaces_;
    HealthCounters health_;

    // Error Information log (NVMe Base 2.0, 5.16.1.2): newest first.
    std::deque<nvme::ErrorInformationEntry> error_log_;
    std::uint64_t error_count_ = 0;
    static constexpr std::size_t error_log_entries = 64;  // ELPE + 1

    // Asynchronous events.
    std::deque<std::uint16_t> outstanding_aers_;  // cids
    struct PendingEvent {
        nvme::AsyncEventType type;
        std::uint8_t info;
        nvme::LogPageId log;
    };
    std::deque<PendingEvent> pending_events_;
    std::set<nvme::LogPageId> masked_logs_;        // reported, awaiting a read with RAE=0
    std::vector<std::uint32_t> changed_namespaces_;  // for LID 0x04; 0xffffffff on overflow

    // Queues.
    std::uint16_t granted_io_queues_ = 0;  // 0 until Set Features Number of Queues
    bool io_queues_created_ = false;

    // Features: current and saved values by FID (cdw11 encoding), per nsid
    // where namespace specific (nsid 0 = controller-wide).
    struct FeatureValues {
        std::map<std::pair<std::uint8_t, std::uint32_t>, std::uint32_t> current;
        std::map<std::pair<std::uint8_t, std::uint32_t>, std::uint32_t> saved;
    } features_;
    std::array<std::byte, 16> host_identifier_{};
    bool host_identifier_extended_ = false;
    std::uint64_t timestamp_ms_at_set_ = 0;
    std::chrono::steady_clock::time_point timestamp_set_at_{};
    bool timestamp_set_by_host_ = false;
    std::chrono::steady_clock::time_point last_keep_alive_{};

    // Firmware (NVMe Base 2.0, 5.12 / 5.13).
    std::array<std::array<char, 8>, 7> firmware_slots_{};  // slot 1..7 → index 0..6
    std::uint8_t active_slot_ = 1;
    std::uint8_t next_reset_slot_ = 0;                     // 0 = none pending
    std::vector<std::byte> firmware_download_;             // image being assembled
    std::uint32_t firmware_download_next_dword_ = 0;

    // Device self-test (NVMe Base 2.0, 5.9).
    struct SelfTestRun {
        std::uint8_t code;  // 1 short, 2 extended
        std::uint32_t nsid;
        std::chrono::steady_clock::time_point started;
        std::chrono::milliseconds duration;
    };
    std::optional<SelfTestRun> self_test_;
    std::deque<nvme::SelfTestResult> self_test_results_;  // newest first, at most 20
    /// Finishes a self-test whose time has come (called lazily before use).
    void update_self_test();

    // ---- features, firmware, self-test: accessors and reset hooks
    //      (admin_features.cpp, admin_firmware.cpp, admin_self_test.cpp) ----
    /// Current value of a feature in its cdw11 / dw0 encoding (the default
    /// until a Set Features changed it). `nsid` matters only for namespace
    /// specific features (Error Recovery); controller-wide ones ignore it.
    /// `selector` picks one of several values: Temperature Threshold
    /// (TMPSEL << 4) | THSEL (0 = composite over-temperature threshold, in
    /// Kelvin); Interrupt Vector Configuration the vector.
    [[nodiscard]] std::uint32_t feature_value(nvme::FeatureId fid, std::uint32_t nsid = 0,
                                              std::uint32_t selector = 0) const;
    /// True when every bit of `mask` is set in the Asynchronous Event
    /// Configuration (FID 0Bh), e.g.
    /// `nvme::feat::async_event_configuration::NamespaceAttributeNotices::mask`.
    [[nodiscard]] bool async_event_enabled(std::uint32_t mask) const;
    /// Composite temperature thresholds (FID 04h, TMPSEL 0) in Kelvin.
    [[nodiscard]] std::uint16_t over_temperature_threshold() const;
    [[nodiscard]] std::uint16_t under_temperature_threshold() const;
    /// Volatile Write Cache enabled (FID 06h WCE).
    [[nodiscard]] bool write_cache_enabled() const;
    /// Device self-test log header: {current operation (self-test code, 0 =
    /// none), percent complete}. Call update_self_test() first.
    [[nodiscard]] std::pair<std::uint8_t, std::uint8_t> self_test_progress() const;
    /// Everything a Controller Level Reset does to features (current values
    /// return to saved), firmware (the pending slot becomes active) and a
    /// running self-test (aborted, result 2). controller_reset() calls this
    /// once; each of the three parts is idempotent and callable alone.
    void on_controller_reset();
    void reset_features();          ///< current = saved; timestamp restarts at 0
    void apply_pending_firmware();  ///< active_slot_ = next_reset_slot_ if pending
    /// Ends a running self-test with `result` (no-op when none runs).
    void abort_self_test(nvme::SelfTestResultCode result);
    /// Pushes a self-test result (newest first, at most 20 kept).
    void record_self_test_result(std::uint8_t code, nvme::SelfTestResultCode result,
                                 std::uint32_t nsid);
    /// Firmware revision that an image carries ("NVCFW" + 8 chars, or "F" +
    /// 7 hex digits of a checksum).
    [[nodiscard]] static std::array<char, 8> firmware_revision_of(std::span<const std::byte> image);
};

} // namespace nvmecuse::emu
