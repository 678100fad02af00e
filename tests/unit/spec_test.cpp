// Unit tests of the NVMe spec layer: field encodings that must match the
// Linux passthrough ABI and the NVMe Base 2.0 layouts byte for byte.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

#include "nvmecuse/spec/nvme.hpp"

namespace {

using namespace nvme;

// --- Status ---------------------------------------------------------------

TEST(SpecStatus, FieldMatchesLinuxPassthroughValue)
{
    EXPECT_EQ(Status(GenericStatus::success).to_field(), 0x0000);
    EXPECT_EQ(Status(GenericStatus::invalid_field).to_field(), 0x0002);
    EXPECT_EQ(Status(GenericStatus::invalid_field).with_dnr().to_field(), 0x4002);
    EXPECT_EQ(Status(GenericStatus::lba_out_of_range).with_dnr().to_field(), 0x4080);
    EXPECT_EQ(Status(MediaStatus::compare_failure).to_field(), 0x0285);
    EXPECT_EQ(Status(CommandSpecificStatus::invalid_log_page).to_field(), 0x0109);
    EXPECT_EQ(Status(PathStatus::command_aborted_by_host).to_field(), 0x0371);
    EXPECT_EQ(Status(GenericStatus::internal_error).with_more().with_crd(2).to_field(), 0x3006);
}

TEST(SpecStatus, FieldRoundTripsEveryValue)
{
    for (uint32_t v = 0; v < 0x8000; ++v) {
        const auto field = static_cast<uint16_t>(v);
        ASSERT_EQ(Status::from_field(field).to_field(), field) << std::hex << v;
    }
}

TEST(SpecStatus, FromFieldDecodesParts)
{
    const Status s = Status::from_field(0x4285);
    EXPECT_EQ(s.sct, StatusCodeType::media_data_integrity);
    EXPECT_EQ(s.sc, 0x85);
    EXPECT_TRUE(s.dnr);
    EXPECT_FALSE(s.more);
    EXPECT_EQ(s.crd, 0);
    EXPECT_TRUE(s.same_code(MediaStatus::compare_failure));
    EXPECT_NE(s, Status(MediaStatus::compare_failure));
    EXPECT_EQ(s, Status(MediaStatus::compare_failure).with_dnr());
}

TEST(SpecStatus, CqeStatusCarriesPhase)
{
    CompletionQueueEntry cqe{};
    set_status(cqe, Status(GenericStatus::invalid_opcode).with_dnr(), true);
    EXPECT_EQ(cqe.status, (0x4001 << 1) | 1);
    EXPECT_TRUE(phase(cqe));
    EXPECT_EQ(status_of(cqe), Status(GenericStatus::invalid_opcode).with_dnr());
    set_status(cqe, Status::success(), false);
    EXPECT_FALSE(phase(cqe));
    EXPECT_TRUE(status_of(cqe).is_success());
}

TEST(SpecStatus, SuccessOnlyForGenericZero)
{
    EXPECT_TRUE(Status().is_success());
    EXPECT_FALSE(Status(GenericStatus::invalid_field).is_success());
    EXPECT_FALSE(
        Status(CommandSpecificStatus::completion_queue_invalid).is_success()); // sc 0, sct 1
    EXPECT_FALSE(Status(PathStatus::internal_path_error).is_success());
}

TEST(SpecStatus, Names)
{
    EXPECT_EQ(name(Status(GenericStatus::success)), "Successful Completion");
    EXPECT_EQ(name(Status(GenericStatus::invalid_field)), "Invalid Field in Command");
    EXPECT_EQ(name(Status(GenericStatus::lba_out_of_range).with_dnr()), "LBA Out of Range");
    EXPECT_EQ(name(Status(CommandSpecificStatus::invalid_log_page)), "Invalid Log Page");
    EXPECT_EQ(name(Status(CommandSpecificStatus::namespace_not_attached)),
              "Namespace Not Attached");
    EXPECT_EQ(name(Status(MediaStatus::compare_failure)), "Compare Failure");
    EXPECT_EQ(name(Status(PathStatus::host_pathing_error)), "Host Pathing Error");
    EXPECT_EQ(name(Status(StatusCodeType::generic, 0x17)), "Unknown");
    EXPECT_EQ(name(Status(StatusCodeType::media_data_integrity, 0x00)), "Unknown");
    EXPECT_EQ(name(Status(static_cast<StatusCodeType>(5), 0)), "Unknown");
    static_assert(name(Status(GenericStatus::invalid_opcode)) == "Invalid Command Opcode");
}

TEST(SpecStatus, ToString)
{
    EXPECT_EQ(to_string(GenericStatus::invalid_field),
              "Invalid Field in Command (sct 0x0, sc 0x02)");
    EXPECT_EQ(to_string(Status(GenericStatus::lba_out_of_range).with_dnr()),
              "LBA Out of Range (sct 0x0, sc 0x80, dnr)");
    EXPECT_EQ(to_string(MediaStatus::compare_failure), "Compare Failure (sct 0x2, sc 0x85)");
}

// --- Opcodes --------------------------------------------------------------

TEST(SpecOpcodes, DataTransferFromLowBits)
{
    EXPECT_EQ(data_transfer(NvmOpcode::flush), DataTransfer::none);
    EXPECT_EQ(data_transfer(NvmOpcode::write), DataTransfer::host_to_controller);
    EXPECT_EQ(data_transfer(NvmOpcode::read), DataTransfer::controller_to_host);
    EXPECT_EQ(data_transfer(NvmOpcode::compare), DataTransfer::host_to_controller);
    EXPECT_EQ(data_transfer(NvmOpcode::dataset_management), DataTransfer::host_to_controller);
    EXPECT_EQ(data_transfer(NvmOpcode::write_zeroes), DataTransfer::none);
    EXPECT_EQ(data_transfer(AdminOpcode::get_log_page), DataTransfer::controller_to_host);
    EXPECT_EQ(data_transfer(AdminOpcode::identify), DataTransfer::controller_to_host);
    EXPECT_EQ(data_transfer(AdminOpcode::firmware_image_download),
              DataTransfer::host_to_controller);
    EXPECT_EQ(data_transfer(AdminOpcode::security_receive), DataTransfer::controller_to_host);
    EXPECT_EQ(data_transfer(AdminOpcode::keep_alive), DataTransfer::none);
    EXPECT_EQ(data_transfer(uint8_t{0xc3}), DataTransfer::bidirectional);
    EXPECT_EQ(data_transfer(FabricsCommandType::property_get), DataTransfer::none);
    EXPECT_EQ(data_transfer(FabricsCommandType::authentication_receive),
              DataTransfer::controller_to_host);
}

TEST(SpecOpcodes, Names)
{
    EXPECT_EQ(name(AdminOpcode::get_log_page), "Get Log Page");
    EXPECT_EQ(name(AdminOpcode::doorbell_buffer_config), "Doorbell Buffer Config");
    EXPECT_EQ(name(NvmOpcode::write_zeroes), "Write Zeroes");
    EXPECT_EQ(name(FabricsCommandType::connect), "Connect");
    EXPECT_EQ(name(static_cast<AdminOpcode>(0x03)), "Unknown");
    EXPECT_EQ(name(LogPageId::smart_health), "SMART / Health Information");
    EXPECT_EQ(name(FeatureId::number_of_queues), "Number of Queues");
}

// --- Command fields -------------------------------------------------------

TEST(SpecCommand, ReadWriteSlbaAndNlb)
{
    SubmissionQueueEntry sqe{};
    sqe.opc = static_cast<uint8_t>(NvmOpcode::read);
    sqe.cdw10 = 0x89abcdef;
    sqe.cdw11 = 0x01234567;
    sqe.cdw12 = 0xc000'00ffu; // LR, FUA, NLB 255
    EXPECT_EQ(cmd::rw::slba(sqe), 0x0123456789abcdefull);
    EXPECT_EQ(cmd::rw::nlb(sqe), 255u);
    EXPECT_EQ(cmd::rw::num_blocks(sqe), 256u);
    EXPECT_EQ(cmd::rw::Fua::get(sqe), 1u);
    EXPECT_EQ(cmd::rw::Lr::get(sqe), 1u);

    cmd::rw::set_slba(sqe, 0xffff'ffff'0000'0001ull);
    EXPECT_EQ(sqe.cdw10, 1u);
    EXPECT_EQ(sqe.cdw11, 0xffffffffu);
    cmd::rw::set_num_blocks(sqe, 65536);
    EXPECT_EQ(cmd::rw::Nlb::get(sqe), 0xffffu);
    EXPECT_EQ(cmd::rw::Fua::get(sqe), 1u) << "setting NLB must not clobber FUA";
    cmd::rw::Prinfo::set(sqe, 0x9);
    EXPECT_EQ(sqe.cdw12 >> 26 & 0xf, 0x9u);
    cmd::rw::Apptag::set(sqe, 0x1234);
    cmd::rw::Appmask::set(sqe, 0xffff);
    EXPECT_EQ(sqe.cdw15, 0xffff1234u);
}

TEST(SpecCommand, GetLogPageNumDwords)
{
    SubmissionQueueEntry sqe{};
    sqe.cdw10 = (0x7fu << 16) | (1u << 15) | (0x5u << 8) | 0x02; // NUMDL 127, RAE, LSP 5, LID 2
    EXPECT_EQ(cmd::get_log_page::Lid::get(sqe), 0x02u);
    EXPECT_EQ(cmd::get_log_page::Lsp::get(sqe), 0x5u);
    EXPECT_EQ(cmd::get_log_page::Rae::get(sqe), 1u);
    EXPECT_EQ(cmd::get_log_page::num_dwords(sqe), 128u); // 512-byte SMART log
    EXPECT_EQ(cmd::get_log_page::num_bytes(sqe), 512u);

    sqe.cdw11 = 0x0001; // NUMDU 1
    EXPECT_EQ(cmd::get_log_page::num_dwords(sqe), 0x1007fu + 1);

    SubmissionQueueEntry b{};
    cmd::get_log_page::set_num_dwords(b, 0x20000);
    EXPECT_EQ(cmd::get_log_page::Numdl::get(b), 0xffffu);
    EXPECT_EQ(cmd::get_log_page::Numdu::get(b), 0x1u);
    EXPECT_EQ(cmd::get_log_page::num_dwords(b), 0x20000u);
    cmd::get_log_page::set_lpo(b, 0x1'0000'0200ull);
    EXPECT_EQ(b.cdw12, 0x200u);
    EXPECT_EQ(b.cdw13, 0x1u);
    EXPECT_EQ(cmd::get_log_page::lpo(b), 0x1'0000'0200ull);
    b.cdw14 = (0x02u << 24) | (1u << 23) | 0x05;
    EXPECT_EQ(cmd::get_log_page::Csi::get(b), 0x02u);
    EXPECT_EQ(cmd::get_log_page::Ot::get(b), 1u);
    EXPECT_EQ(cmd::get_log_page::Uuid::get(b), 0x05u);
}

TEST(SpecCommand, IdentifyFeaturesFormatFields)
{
    SubmissionQueueEntry sqe{};
    cmd::identify::Cns::set(sqe, static_cast<uint32_t>(Cns::controller_list));
    cmd::identify::Cntid::set(sqe, 0x42);
    cmd::identify::Csi::set(sqe, static_cast<uint32_t>(CommandSet::zoned_namespace));
    EXPECT_EQ(sqe.cdw10, 0x0042'0013u);
    EXPECT_EQ(sqe.cdw11, 0x0200'0000u);

    SubmissionQueueEntry f{};
    f.cdw10 = (1u << 31) | (3u << 8) | 0x07;
    EXPECT_EQ(cmd::features::Fid::get(f), 0x07u);
    EXPECT_EQ(static_cast<FeatureSelect>(cmd::features::Sel::get(f)),
              FeatureSelect::supported_capabilities);
    EXPECT_EQ(cmd::features::Sv::get(f), 1u);

    SubmissionQueueEntry fmt{};
    cmd::format_nvm::set_lbaf_index(fmt, 0x2b);
    cmd::format_nvm::Ses::set(fmt, 1);
    EXPECT_EQ(cmd::format_nvm::Lbafl::get(fmt), 0xbu);
    EXPECT_EQ(cmd::format_nvm::Lbafu::get(fmt), 0x2u);
    EXPECT_EQ(cmd::format_nvm::lbaf_index(fmt), 0x2bu);
    EXPECT_EQ(fmt.cdw10, 0x2000u | 0x200u | 0xbu);
}

TEST(SpecCommand, DsmAndAsyncEvent)
{
    SubmissionQueueEntry sqe{};
    sqe.cdw10 = 0;
    sqe.cdw11 = 0x4;
    EXPECT_EQ(cmd::dsm::num_ranges(sqe), 1u);
    EXPECT_EQ(cmd::dsm::Ad::get(sqe), 1u);

    const uint32_t dw0 = aer_result::make(
        AsyncEventType::notice, static_cast<uint8_t>(AsyncEventNotice::namespace_attribute_changed),
        static_cast<uint8_t>(LogPageId::changed_namespace_list));
    EXPECT_EQ(dw0, 0x0004'0002u);
    EXPECT_EQ(aer_result::type(dw0), AsyncEventType::notice);
    EXPECT_EQ(aer_result::log_page(dw0), 0x04);
}

TEST(SpecCommand, SglDescriptorOverlaysDptr)
{
    SubmissionQueueEntry sqe{};
    SglDescriptor d{};
    d.addr = 0x1122334455667788ull;
    d.length = 4096;
    d.sgl_identifier =
        static_cast<uint8_t>(static_cast<uint8_t>(SglDescriptorType::data_block) << 4) | 0x1;
    set_dptr_sgl(sqe, d);
    EXPECT_EQ(sqe.prp1, d.addr);
    EXPECT_EQ(sqe.prp2 & 0xffffffffu, 4096u);
    const SglDescriptor back = dptr_sgl(sqe);
    EXPECT_EQ(sgl_type(back), SglDescriptorType::data_block);
    EXPECT_EQ(sgl_subtype(back), 0x1);
    EXPECT_EQ(back.length, 4096u);
}

// --- Identify -------------------------------------------------------------

TEST(SpecIdentify, FlbasIndexUsesUpperBits)
{
    EXPECT_EQ(flbas::index(0x00), 0);
    EXPECT_EQ(flbas::index(0x0f), 15);
    EXPECT_EQ(flbas::index(0x10), 0) << "bit 4 is the extended-metadata flag, not the index";
    EXPECT_TRUE(flbas::is_extended(0x10));
    EXPECT_EQ(flbas::index(0x20), 16);
    EXPECT_EQ(flbas::index(0x61), 49);
    EXPECT_EQ(flbas::index(0x7f), 63);
    for (uint8_t i = 0; i < 64; ++i) {
        EXPECT_EQ(flbas::index(flbas::make(i)), i);
        EXPECT_EQ(flbas::index(flbas::make(i, true)), i);
        EXPECT_TRUE(flbas::is_extended(flbas::make(i, true)));
        EXPECT_FALSE(flbas::is_extended(flbas::make(i)));
    }
}

TEST(SpecIdentify, CurrentLbaFormat)
{
    IdentifyNamespace ns{};
    ns.nlbaf = 17;
    ns.lbaf[0] = {0, 9, 0};
    ns.lbaf[17] = {8, 12, 0};
    ns.flbas = flbas::make(17);
    EXPECT_EQ(current_lba_format(ns).ms, 8);
    EXPECT_EQ(lba_data_size(ns), 4096u);
    ns.flbas = flbas::make(0);
    EXPECT_EQ(lba_data_size(ns), 512u);
}

TEST(SpecIdentify, ControllerStringsAndCounters)
{
    IdentifyController id{};
    set_padded(id.sn, "SN123");
    set_padded(id.mn, "nvmecuse emulated controller");
    set_padded(id.fr, "1.0");
    set_nul_padded(id.subnqn, "nqn.2014-08.org.nvmexpress:uuid:1234");
    EXPECT_EQ(std::string(id.sn.data(), id.sn.size()), "SN123               ");
    EXPECT_EQ(id.fr[3], ' ');
    EXPECT_EQ(trimmed(id.mn), "nvmecuse emulated controller");
    EXPECT_EQ(trimmed(id.subnqn), "nqn.2014-08.org.nvmexpress:uuid:1234");
    EXPECT_EQ(id.subnqn[255], '\0');

    const auto* raw = reinterpret_cast<const uint8_t*>(&id);
    EXPECT_EQ(raw[4], 'S');
    EXPECT_EQ(raw[64], '1');
    EXPECT_EQ(raw[768], 'n');

    id.tnvmcap = Uint128{0, 1};
    EXPECT_EQ(raw[280 + 8], 1);
}

// --- Bits, Uint128 and strings --------------------------------------------

TEST(SpecBits, FieldGetSet)
{
    using F = Field<4, 3>;
    EXPECT_EQ(F::mask, 0x70u);
    EXPECT_EQ(F::get(0xffu), 0x7u);
    EXPECT_EQ(F::set(0xffu, 0x2u), 0xafu);
    EXPECT_EQ(F::set(0u, 0xfu), 0x70u) << "values wider than the field are truncated";
    EXPECT_FALSE(F::fits(8));
    using W = Field<0, 32>;
    EXPECT_EQ(W::get(0xdeadbeefu), 0xdeadbeefu);
    using C = Bit<63, uint64_t>;
    EXPECT_TRUE(C::get(C::make(true)));
}

TEST(SpecBits, Uint128Decimal)
{
    EXPECT_EQ(Uint128{}.to_string(), "0");
    EXPECT_EQ(Uint128::from(7).to_string(), "7");
    EXPECT_EQ(Uint128::from(1000000000).to_string(), "1000000000");
    EXPECT_EQ(Uint128::from(18446744073709551615ull).to_string(), "18446744073709551615");
    EXPECT_EQ((Uint128{0, 1}).to_string(), "18446744073709551616");
    EXPECT_EQ((Uint128{~0ull, ~0ull}).to_string(), "340282366920938463463374607431768211455");
    EXPECT_EQ((Uint128{0x10, 0x1}).to_string(), "18446744073709551632");
}

TEST(SpecBits, Uint128Arithmetic)
{
    Uint128 c = Uint128::from(~0ull);
    add(c, 1);
    EXPECT_EQ(c, (Uint128{0, 1}));
    c += Uint128{5, 2};
    EXPECT_EQ(c, (Uint128{5, 3}));
    EXPECT_LT(Uint128::from(~0ull), (Uint128{0, 1}));
    EXPECT_DOUBLE_EQ(static_cast<double>((Uint128{0, 1}).to_long_double()), 18446744073709551616.0);
}

TEST(SpecBits, PaddedStrings)
{
    std::array<char, 8> fr{};
    set_padded(fr, "abc");
    EXPECT_EQ(std::string(fr.data(), 8), "abc     ");
    set_padded(fr, "0123456789");
    EXPECT_EQ(std::string(fr.data(), 8), "01234567");
    std::array<char, 8> nqn{};
    nqn.fill('x');
    set_nul_padded(nqn, "0123456789");
    EXPECT_EQ(std::string(nqn.data()), "0123456");
    set_nul_padded(nqn, "ab");
    EXPECT_EQ(nqn[2], '\0');
    EXPECT_EQ(nqn[7], '\0');
    EXPECT_EQ(trimmed(nqn), "ab");
}

// --- Log pages, features, registers ---------------------------------------

TEST(SpecLogPages, UnalignedFields)
{
    SmartHealthLog smart{};
    smart.composite_temperature.set(273 + 40);
    const auto* raw = reinterpret_cast<const uint8_t*>(&smart);
    EXPECT_EQ(raw[1], (313 & 0xff));
    EXPECT_EQ(raw[2], (313 >> 8));
    EXPECT_EQ(smart.composite_temperature.get(), 313);
    add(smart.data_units_read, 3);
    EXPECT_EQ(raw[32], 3);

    DeviceSelfTestLog dst{};
    dst.result[1].power_on_hours.set(0x0102030405060708ull);
    dst.result[1].failing_lba.set(0xaabbccddeeff0011ull);
    const auto* d = reinterpret_cast<const uint8_t*>(&dst);
    EXPECT_EQ(d[4 + 28 + 4], 0x08);
    EXPECT_EQ(d[4 + 28 + 11], 0x01);
    EXPECT_EQ(d[4 + 28 + 16], 0x11);
    uint64_t lba = 0;
    std::memcpy(&lba, d + 4 + 28 + 16, 8);
    EXPECT_EQ(lba, 0xaabbccddeeff0011ull);
}

TEST(SpecFeatures, ValueLayouts)
{
    EXPECT_EQ(feat::number_of_queues::make(4, 8), 0x0007'0003u);
    uint32_t aec = 0;
    aec = feat::async_event_configuration::SmartCriticalWarnings::set(aec, 0x1f);
    aec = feat::async_event_configuration::NamespaceAttributeNotices::set(aec, true);
    EXPECT_EQ(aec, 0x11fu);
    EXPECT_EQ(feat::temperature_threshold::Thsel::get(0x0010'0000u + 350),
              static_cast<uint32_t>(feat::temperature_threshold::ThresholdType::under));
    TimestampData ts{};
    ts.set_milliseconds(0x0000'1234'5678'9abcull);
    EXPECT_EQ(ts.milliseconds(), 0x0000'1234'5678'9abcull);
    EXPECT_EQ(ts.timestamp[0], 0xbc);
}

TEST(SpecRegisters, Accessors)
{
    uint64_t capv = 0;
    capv = cap::Mqes::set(capv, 1023);
    capv = cap::To::set(capv, 20);
    capv = cap::Css::set(capv, cap::css_nvm);
    capv = cap::Mpsmax::set(capv, 4);
    EXPECT_EQ(cap::Mqes::get(capv), 1023u);
    EXPECT_EQ(cap::timeout_ms(capv), 10000u);
    EXPECT_EQ(capv >> 37 & 1, 1u);
    EXPECT_EQ(cap::max_page_size(capv), 65536u);
    EXPECT_EQ(cap::min_page_size(capv), 4096u);

    const uint32_t ccv = cc::En::make(true) | cc::Iosqes::make(6) | cc::Iocqes::make(4);
    EXPECT_EQ(ccv, 0x0046'0001u);
    EXPECT_EQ(cc::page_size(ccv), 4096u);
    EXPECT_EQ(make_version(2, 0, 0), 0x0002'0000u);
    EXPECT_EQ(vs::Mnr::get(make_version(1, 4, 0)), 4u);
    EXPECT_EQ(reg_offset::sq_tail_doorbell(0, 0), 0x1000u);
    EXPECT_EQ(reg_offset::cq_head_doorbell(0, 0), 0x1004u);
    EXPECT_EQ(reg_offset::sq_tail_doorbell(3, 1), 0x1000u + 6 * 8);
    EXPECT_TRUE(reg_offset::is_64bit(reg_offset::asq));
    EXPECT_FALSE(reg_offset::is_64bit(reg_offset::cc));
}

} // namespace
