// nvmecuse-demo: the driver core without CUSE or root, in one process (not
// installed; nvmecused is the product). Starts the built-in emulated
// controller behind the driver core (ctrlr::Controller),
// lists its namespaces, prints Identify Controller, writes and reads back a
// pattern through the I/O queue, and prints the SMART / Health log that
// followed the traffic. Exits non-zero if any step fails.

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"
#include "print.hpp"

using namespace nvmecuse;

namespace {

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "nvmecuse-demo: %s\n", what.c_str());
    std::exit(1);
}

void check(const ctrlr::Result& r, const char* what)
{
    if (r.error) fail(fmt::format("{}: {}", what, r.error.message()));
    if (!r.status.is_success()) fail(fmt::format("{}: {}", what, nvme::to_string(r.status)));
}

ctrlr::Result admin(ctrlr::Controller& c, const nvme::SubmissionQueueEntry& sqe, std::size_t bytes)
{
    return c.execute(ctrlr::QueueKind::admin,
                     ctrlr::Command::from_opcode(sqe, ctrlr::DataBuffer::zeroed(bytes)));
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"Runs nvmecuse's emulated NVMe controller through the driver core and prints "
                 "what nvme id-ctrl and nvme smart-log would show"};
    app.set_version_flag("--version", std::string("nvmecuse-demo ") + NVMECUSE_VERSION);
    app.footer("Example:\n  nvmecuse-demo --io-bytes 65536 --backing-file /var/tmp/nvmecuse-demo.img");
    std::uint64_t io_bytes = 1 << 20;
    std::string backing_file;
    app.add_option("--io-bytes", io_bytes, "bytes to write and read back on namespace 1")
        ->check(CLI::Range(std::uint64_t{512}, std::uint64_t{1} << 20));
    app.add_option("--backing-file", backing_file,
                   "keep namespace 1 in this file (sparse) instead of RAM");
    CLI11_PARSE(app, argc, argv);
    io_bytes = io_bytes / 512 * 512;

    emu::ControllerConfig config;
    config.total_capacity_bytes = 16ull << 30; // above the 4 GiB default: 9 GiB of namespaces
    emu::NamespaceConfig ns1;
    ns1.nsid = 1;
    ns1.size_bytes = 8ull << 30;
    ns1.backing_file = backing_file;
    emu::NamespaceConfig ns2;
    ns2.nsid = 2;
    ns2.size_bytes = 1ull << 30;
    ns2.lba_data_size = 4096;
    ns2.metadata_size = 8;
    config.namespaces = {ns1, ns2};
    auto transport = emu::make_transport(config);
    ctrlr::Controller::Options options;
    options.name = "nvme0";
    if (!transport) fail("emulated controller: " + transport.error().message());
    auto started = ctrlr::Controller::start(std::move(*transport), options);
    if (!started) fail("controller start: " + started.error().message());
    auto& ctrl = **started;

    const auto info = ctrl.info();
    fmt::print("{}\n", demo::format_namespace_table("emu:nvme0", *info));
    fmt::print("{}\n", demo::format_id_ctrl(info->id));

    // Write a pattern to namespace 1 and read it back through the I/O queue.
    auto data = ctrlr::DataBuffer(io_bytes);
    for (std::size_t i = 0; i < io_bytes; ++i)
        data.data()[i] = static_cast<std::byte>((i * 131 + (i >> 9)) & 0xff);
    const auto expected = ctrlr::DataBuffer::copy_of(data.span());
    nvme::SubmissionQueueEntry rw{};
    rw.nsid = 1;
    nvme::cmd::rw::set_slba(rw, 2048);
    nvme::cmd::rw::set_num_blocks(rw, static_cast<std::uint32_t>(io_bytes / 512));
    rw.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::write);
    check(ctrl.execute(ctrlr::QueueKind::io, ctrlr::Command::from_opcode(rw, std::move(data))),
          "write");
    rw.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::read);
    auto read = ctrl.execute(ctrlr::QueueKind::io,
                             ctrlr::Command::from_opcode(rw, ctrlr::DataBuffer(io_bytes)));
    check(read, "read");
    if (std::memcmp(read.data.data(), expected.data(), io_bytes) != 0)
        fail("read-back data differs from what was written");
    fmt::print("wrote and read back {} bytes on namespace 1 at LBA 2048: data verified\n\n",
               io_bytes);

    nvme::SubmissionQueueEntry log{};
    log.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::get_log_page);
    log.nsid = nvme::nsid_all;
    nvme::cmd::get_log_page::Lid::set(log, static_cast<std::uint32_t>(nvme::LogPageId::smart_health));
    nvme::cmd::get_log_page::set_num_dwords(log, sizeof(nvme::SmartHealthLog) / 4);
    auto smart = admin(ctrl, log, sizeof(nvme::SmartHealthLog));
    check(smart, "get log page (SMART / Health)");
    fmt::print("{}", demo::format_smart_log("emu:nvme0", smart.data.as<nvme::SmartHealthLog>()));
    return 0;
}
