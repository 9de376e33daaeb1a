#include "boot/acpi_tables.hpp"
#include "boot/image_bytes.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>

#include "base/error.hpp"

namespace xenolith::boot {

// The tables are the structures' bytes as the guest reads them: little-endian.
static_assert(std::endian::native == std::endian::little);

namespace {

// ---- Structures, ACPI 6.5 chapter 5 -----------------------------------------------------

// 5.2.5.3, Root System Description Pointer (revision 2).
struct [[gnu::packed]] Rsdp {
    char signature[8];
    uint8_t checksum;  // over the first 20 bytes (the ACPI 1.0 structure)
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;  // over all `length` bytes
    uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);
static_assert(offsetof(Rsdp, rsdt_address) == 16);
static_assert(offsetof(Rsdp, xsdt_address) == 24);
constexpr size_t kRsdpV1Size = 20;

// 5.2.6, System Description Table Header.
struct [[gnu::packed]] TableHeader {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;  // the whole table sums to zero
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};
static_assert(sizeof(TableHeader) == 36);

// 5.2.3.2, Generic Address Structure.
struct [[gnu::packed]] GenericAddress {
    uint8_t space_id;
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);
constexpr uint8_t kSpaceSystemIo = 1;
constexpr uint8_t kAccessByte = 1;

// 5.2.9, Fixed ACPI Description Table, revision 6 (ACPI 6.0 and later: the last field is the
// Hypervisor Vendor Identity).
struct [[gnu::packed]] Fadt {
    TableHeader header;
    uint32_t firmware_ctrl;
    uint32_t dsdt;
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    uint8_t acpi_disable;
    uint8_t s4bios_req;
    uint8_t pstate_cnt;
    uint32_t pm1a_evt_blk;
    uint32_t pm1b_evt_blk;
    uint32_t pm1a_cnt_blk;
    uint32_t pm1b_cnt_blk;
    uint32_t pm2_cnt_blk;
    uint32_t pm_tmr_blk;
    uint32_t gpe0_blk;
    uint32_t gpe1_blk;
    uint8_t pm1_evt_len;
    uint8_t pm1_cnt_len;
    uint8_t pm2_cnt_len;
    uint8_t pm_tmr_len;
    uint8_t gpe0_blk_len;
    uint8_t gpe1_blk_len;
    uint8_t gpe1_base;
    uint8_t cst_cnt;
    uint16_t p_lvl2_lat;
    uint16_t p_lvl3_lat;
    uint16_t flush_size;
    uint16_t flush_stride;
    uint8_t duty_offset;
    uint8_t duty_width;
    uint8_t day_alrm;
    uint8_t mon_alrm;
    uint8_t century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    GenericAddress reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl;
    uint64_t x_dsdt;
    GenericAddress x_pm1a_evt_blk;
    GenericAddress x_pm1b_evt_blk;
    GenericAddress x_pm1a_cnt_blk;
    GenericAddress x_pm1b_cnt_blk;
    GenericAddress x_pm2_cnt_blk;
    GenericAddress x_pm_tmr_blk;
    GenericAddress x_gpe0_blk;
    GenericAddress x_gpe1_blk;
    GenericAddress sleep_control_reg;
    GenericAddress sleep_status_reg;
    char hypervisor_vendor_id[8];
};
static_assert(sizeof(Fadt) == 276);
static_assert(offsetof(Fadt, sci_int) == 46);
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, reset_value) == 128);
static_assert(offsetof(Fadt, minor_version) == 131);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(offsetof(Fadt, sleep_status_reg) == 256);
static_assert(offsetof(Fadt, hypervisor_vendor_id) == 268);

// FADT Flags (table 5.10).
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
// IA-PC Boot Architecture Flags (table 5.11). LEGACY_DEVICES and 8042 stay clear: there are
// none. MSI stays allowed.
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
constexpr uint16_t kBootArchPcieAspmControls = 1u << 4;  // OSPM must not enable ASPM
constexpr uint16_t kBootArchCmosRtcNotPresent = 1u << 5;

// 5.2.12, Multiple APIC Description Table.
struct [[gnu::packed]] Madt {
    TableHeader header;
    uint32_t local_apic_address;
    uint32_t flags;  // PCAT_COMPAT (bit 0) clear: no 8259 PICs
};
static_assert(sizeof(Madt) == 44);

// 5.2.12.2, Processor Local APIC Structure.
struct [[gnu::packed]] MadtLocalApic {
    uint8_t type;
    uint8_t length;
    uint8_t processor_uid;
    uint8_t apic_id;
    uint32_t flags;
};
static_assert(sizeof(MadtLocalApic) == 8);
constexpr uint8_t kMadtTypeLocalApic = 0;
constexpr uint32_t kMadtLocalApicEnabled = 1u << 0;
constexpr uint32_t kLocalApicAddress = 0xfee00000;

// Revisions: the RSDP and XSDT have had theirs since ACPI 2.0; FADT 6.5 (major 6, minor 5);
// the DSDT's 2 makes AML integers 64-bit; MADT 5 is the revision since ACPI 6.3.
constexpr uint8_t kRsdpRevision = 2;
constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorVersion = 5;
constexpr uint8_t kDsdtRevision = 2;
constexpr uint8_t kMadtRevision = 5;

// Identification, as Linux prints it at boot ("ACPI: FACP 0x... (v06 XENOLI XENOLITH ...)").
constexpr char kOemId[] = "XENOLI";
constexpr char kOemTableId[] = "XENOLITH";
constexpr uint32_t kOemRevision = 1;
constexpr char kCreatorId[] = "XNLT";  // the Xenolith toolstack built the tables
constexpr uint32_t kCreatorRevision = 1;
constexpr char kHypervisorVendor[] = "Xenolith";

// The DSDT's AML (ACPI 6.5, chapter 20): Name (_S5, Package () {5, 0, 0, 0}).
// The package is {SLP_TYPa, SLP_TYPb, reserved, reserved}; Linux writes SLP_TYPa.
// NameOp, the NameString "_S5_" (the DSDT's scope is the root), PackageOp, PkgLength (one
// byte counting itself and the 6 after it), NumElements 4, BytePrefix 5, three ZeroOps.
constexpr std::array<uint8_t, 13> kDsdtAml = {
    0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, kAcpiSleepTypeS5, 0x00, 0x00, 0x00,
};
static_assert(kDsdtAml[6] == kDsdtAml.size() - 6);  // PkgLength covers itself to the end

constexpr uint64_t align_up(uint64_t value) {
    return (value + kAcpiTableAlignment - 1) & ~(kAcpiTableAlignment - 1);
}

// Where each table starts relative to the base, for `vcpus` processors.
struct Offsets {
    uint64_t xsdt, fadt, dsdt, madt, end;
};

constexpr uint64_t kXsdtEntries = 2;  // FADT, MADT

constexpr Offsets offsets(uint32_t vcpus) {
    Offsets o{};
    o.xsdt = align_up(sizeof(Rsdp));
    o.fadt = align_up(o.xsdt + sizeof(TableHeader) + kXsdtEntries * sizeof(uint64_t));
    o.dsdt = align_up(o.fadt + sizeof(Fadt));
    o.madt = align_up(o.dsdt + sizeof(TableHeader) + kDsdtAml.size());
    o.end = o.madt + sizeof(Madt) + uint64_t{vcpus} * sizeof(MadtLocalApic);
    return o;
}
static_assert(offsets(kAcpiMaxVcpus).end <= kAcpiTablesMaxSize,
              "the tables for the most vCPUs must fit the space the layout reserves");

template <size_t N>
void copy_id(char (&field)[N], const char (&id)[N + 1]) {  // without the literal's NUL
    std::memcpy(field, id, N);
}

uint8_t checksum(std::span<const uint8_t> bytes) {
    uint8_t sum = 0;
    for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
    return static_cast<uint8_t>(-sum);
}

TableHeader header(const char (&signature)[5], uint64_t length, uint8_t revision) {
    TableHeader h{};
    copy_id(h.signature, signature);
    h.length = static_cast<uint32_t>(length);
    h.revision = revision;
    copy_id(h.oem_id, kOemId);
    copy_id(h.oem_table_id, kOemTableId);
    h.oem_revision = kOemRevision;
    copy_id(h.creator_id, kCreatorId);
    h.creator_revision = kCreatorRevision;
    return h;
}

GenericAddress io_byte(uint16_t port) {
    return {.space_id = kSpaceSystemIo,
            .bit_width = 8,
            .bit_offset = 0,
            .access_size = kAccessByte,
            .address = port};
}

template <class T>
void put(std::vector<uint8_t>& bytes, uint64_t offset, const T& value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Sets the checksum byte of the table at `offset` so that its `length` bytes sum to zero.
void seal(std::vector<uint8_t>& bytes, uint64_t offset) {
    TableHeader h;
    std::memcpy(&h, bytes.data() + offset, sizeof h);
    bytes[offset + offsetof(TableHeader, checksum)] =
        checksum(std::span(bytes).subspan(offset, h.length));
}

}  // namespace

AcpiTables build_acpi_tables(const AcpiRequest& request) {
    if (request.nr_vcpus == 0) throw Error("the ACPI tables need at least one vCPU to describe");
    if (request.nr_vcpus > kAcpiMaxVcpus)
        throw Error("the ACPI tables can describe at most " + std::to_string(kAcpiMaxVcpus) +
                    " vCPUs (xAPIC IDs 0-254); the domain has " + std::to_string(request.nr_vcpus));
    if (request.base_paddr % kAcpiTableAlignment != 0)
        throw Error("the ACPI tables' address " + hex(request.base_paddr) + " is not " +
                    std::to_string(kAcpiTableAlignment) + "-byte aligned");
    if (request.base_paddr > UINT64_MAX - kAcpiTablesMaxSize)
        throw Error("the ACPI tables' address " + hex(request.base_paddr) +
                    " leaves no room for them below the top of the address space");

    const Offsets o = offsets(request.nr_vcpus);
    const uint64_t base = request.base_paddr;
    AcpiTables t;
    t.rsdp_paddr = base;
    t.xsdt_paddr = base + o.xsdt;
    t.fadt_paddr = base + o.fadt;
    t.dsdt_paddr = base + o.dsdt;
    t.madt_paddr = base + o.madt;
    std::vector<uint8_t>& bytes = t.bytes;
    bytes.assign(o.end, 0);  // the gaps between tables are zero

    Rsdp rsdp{};
    copy_id(rsdp.signature, "RSD PTR ");
    copy_id(rsdp.oem_id, kOemId);
    rsdp.revision = kRsdpRevision;
    rsdp.rsdt_address = 0;  // no RSDT: every ACPI 2.0+ OS takes the XSDT
    rsdp.length = sizeof(Rsdp);
    rsdp.xsdt_address = t.xsdt_paddr;
    put(bytes, 0, rsdp);
    bytes[offsetof(Rsdp, checksum)] = checksum(std::span(bytes).first(kRsdpV1Size));
    bytes[offsetof(Rsdp, extended_checksum)] = checksum(std::span(bytes).first(sizeof(Rsdp)));

    const uint64_t xsdt_length = sizeof(TableHeader) + kXsdtEntries * sizeof(uint64_t);
    put(bytes, o.xsdt, header("XSDT", xsdt_length, kXsdtRevision));
    put(bytes, o.xsdt + sizeof(TableHeader), t.fadt_paddr);
    put(bytes, o.xsdt + sizeof(TableHeader) + sizeof(uint64_t), t.madt_paddr);
    seal(bytes, o.xsdt);

    Fadt fadt{};
    fadt.header = header("FACP", sizeof(Fadt), kFadtRevision);
    fadt.minor_version = kFadtMinorVersion;
    // Hardware-reduced: no PM1/GPE blocks, PM timer, SMI command port or FACS, and SCI_INT
    // is not used; sleep and wake go through the two registers below.
    fadt.flags = kFadtHwReducedAcpi | kFadtResetRegSup;
    fadt.sci_int = 0;
    fadt.iapc_boot_arch =
        kBootArchVgaNotPresent | kBootArchPcieAspmControls | kBootArchCmosRtcNotPresent;
    fadt.reset_reg = io_byte(request.reset_port);
    fadt.reset_value = request.reset_value;
    // The 32-bit field too when it can hold the address; OSPM prefers X_DSDT.
    fadt.dsdt = t.dsdt_paddr <= UINT32_MAX ? static_cast<uint32_t>(t.dsdt_paddr) : 0;
    fadt.x_dsdt = t.dsdt_paddr;
    // One port serves both: writes with SLP_EN sleep, the WAK_STS clear before them does not.
    fadt.sleep_control_reg = io_byte(request.sleep_control_port);
    fadt.sleep_status_reg = io_byte(request.sleep_control_port);
    copy_id(fadt.hypervisor_vendor_id, kHypervisorVendor);
    put(bytes, o.fadt, fadt);
    seal(bytes, o.fadt);

    put(bytes, o.dsdt, header("DSDT", sizeof(TableHeader) + kDsdtAml.size(), kDsdtRevision));
    std::copy(kDsdtAml.begin(), kDsdtAml.end(), bytes.begin() + o.dsdt + sizeof(TableHeader));
    seal(bytes, o.dsdt);

    Madt madt{};
    madt.header = header("APIC", o.end - o.madt, kMadtRevision);
    madt.local_apic_address = kLocalApicAddress;
    madt.flags = 0;
    put(bytes, o.madt, madt);
    for (uint32_t i = 0; i < request.nr_vcpus; ++i) {
        const MadtLocalApic lapic{.type = kMadtTypeLocalApic,
                                  .length = sizeof(MadtLocalApic),
                                  .processor_uid = static_cast<uint8_t>(i),
                                  .apic_id = static_cast<uint8_t>(i),  // KVM's: the vCPU index
                                  .flags = kMadtLocalApicEnabled};
        put(bytes, o.madt + sizeof(Madt) + i * sizeof(MadtLocalApic), lapic);
    }
    seal(bytes, o.madt);
    return t;
}

}  // namespace xenolith::boot
