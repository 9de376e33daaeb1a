// build_acpi_tables makes the RSDP, XSDT, FADT, DSDT and MADT of a hardware-reduced PVH
// platform. The tests read every field at its offset in the ACPI 6.5 specification, not
// through the builder's own structures, and follow the tables' pointers the way an OS does.
#include "boot/acpi_tables.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace xenolith::boot {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr uint64_t kBase = 0x4000;
constexpr uint16_t kSleepPort = 0x604;
constexpr uint16_t kResetPort = 0x605;
constexpr uint8_t kResetValue = 0x0e;

AcpiRequest request(uint32_t vcpus = 2, uint64_t base = kBase) {
    return {.base_paddr = base,
            .nr_vcpus = vcpus,
            .sleep_control_port = kSleepPort,
            .reset_port = kResetPort,
            .reset_value = kResetValue};
}

std::string build_error(const AcpiRequest& r) {
    try {
        build_acpi_tables(r);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// The tables as an OS finds them: by guest-physical address, inside the blob.
class Blob {
  public:
    explicit Blob(const AcpiTables& t, uint64_t base) : bytes_(t.bytes), base_(base) {}

    template <class T>
    T read(uint64_t paddr) const {
        EXPECT_GE(paddr, base_);
        EXPECT_LE(paddr - base_ + sizeof(T), bytes_.size()) << "read past the blob";
        T value{};
        if (paddr >= base_ && paddr - base_ + sizeof(T) <= bytes_.size())
            std::memcpy(&value, bytes_.data() + (paddr - base_), sizeof value);
        return value;
    }
    std::string text(uint64_t paddr, size_t length) const {
        std::string s(length, '\0');
        for (size_t i = 0; i < length; ++i) s[i] = static_cast<char>(read<uint8_t>(paddr + i));
        return s;
    }
    uint32_t length(uint64_t table) const { return read<uint32_t>(table + 4); }
    // The table's bytes, after checking it lies inside the blob.
    std::vector<uint8_t> table(uint64_t paddr) const {
        const uint32_t n = length(paddr);
        if (paddr < base_ || paddr - base_ > bytes_.size() || n > bytes_.size() - (paddr - base_)) {
            ADD_FAILURE() << "table at " << paddr << " runs past the blob";
            return {};
        }
        return {bytes_.begin() + (paddr - base_), bytes_.begin() + (paddr - base_ + n)};
    }
    uint64_t xsdt() const { return read<uint64_t>(base_ + 24); }
    uint64_t xsdt_entry(unsigned i) const { return read<uint64_t>(xsdt() + 36 + 8 * i); }
    uint64_t fadt() const { return xsdt_entry(0); }
    uint64_t madt() const { return xsdt_entry(1); }
    uint64_t dsdt() const { return read<uint64_t>(fadt() + 140); }

  private:
    std::vector<uint8_t> bytes_;
    uint64_t base_;
};

uint8_t sum(const std::vector<uint8_t>& bytes, size_t from, size_t length) {
    uint8_t s = 0;
    for (size_t i = from; i < from + length; ++i) s = static_cast<uint8_t>(s + bytes[i]);
    return s;
}

struct Gas {
    uint8_t space_id, bit_width, bit_offset, access_size;
    uint64_t address;
};

Gas gas(const Blob& blob, uint64_t paddr) {
    return {blob.read<uint8_t>(paddr), blob.read<uint8_t>(paddr + 1), blob.read<uint8_t>(paddr + 2),
            blob.read<uint8_t>(paddr + 3), blob.read<uint64_t>(paddr + 4)};
}

void expect_io_byte(const Gas& g, uint16_t port) {
    EXPECT_EQ(g.space_id, 1);  // System I/O
    EXPECT_EQ(g.bit_width, 8);
    EXPECT_EQ(g.bit_offset, 0);
    EXPECT_EQ(g.access_size, 1);  // byte access
    EXPECT_EQ(g.address, port);
}

TEST(AcpiTables, EveryChecksumSumsToZero) {
    for (uint32_t vcpus : {1u, 2u, 17u, kAcpiMaxVcpus}) {
        SCOPED_TRACE(vcpus);
        const AcpiTables t = build_acpi_tables(request(vcpus));
        const Blob blob(t, kBase);
        EXPECT_EQ(sum(t.bytes, 0, 20), 0);  // the ACPI 1.0 part of the RSDP
        EXPECT_EQ(sum(t.bytes, 0, 36), 0);  // the extended checksum
        for (uint64_t table : {blob.xsdt(), blob.fadt(), blob.dsdt(), blob.madt()}) {
            const auto bytes = blob.table(table);
            EXPECT_EQ(sum(bytes, 0, bytes.size()), 0) << blob.text(table, 4);
        }
    }
}

TEST(AcpiTables, RsdpLeadsToXsdtFadtDsdtAndMadtInsideTheBlob) {
    const AcpiTables t = build_acpi_tables(request());
    const Blob blob(t, kBase);
    ASSERT_LE(t.bytes.size(), kAcpiTablesMaxSize);
    EXPECT_EQ(t.rsdp_paddr, kBase);

    EXPECT_EQ(blob.text(kBase, 8), "RSD PTR ");
    EXPECT_EQ(blob.text(kBase + 9, 6), "XENOLI");
    EXPECT_EQ(blob.read<uint8_t>(kBase + 15), 2);    // revision
    EXPECT_EQ(blob.read<uint32_t>(kBase + 16), 0u);  // no RSDT
    EXPECT_EQ(blob.read<uint32_t>(kBase + 20), 36u);

    EXPECT_EQ(blob.xsdt(), t.xsdt_paddr);
    EXPECT_EQ(blob.text(blob.xsdt(), 4), "XSDT");
    EXPECT_EQ(blob.length(blob.xsdt()), 36u + 2 * 8);  // two entries
    EXPECT_EQ(blob.fadt(), t.fadt_paddr);
    EXPECT_EQ(blob.text(blob.fadt(), 4), "FACP");
    EXPECT_EQ(blob.madt(), t.madt_paddr);
    EXPECT_EQ(blob.text(blob.madt(), 4), "APIC");
    EXPECT_EQ(blob.dsdt(), t.dsdt_paddr);
    EXPECT_EQ(blob.text(blob.dsdt(), 4), "DSDT");
    EXPECT_EQ(blob.read<uint32_t>(blob.fadt() + 40), blob.dsdt());  // the 32-bit DSDT too

    // In order, aligned, not overlapping, and the last one ends the blob.
    const std::vector<uint64_t> order = {kBase + 36, blob.xsdt(), blob.fadt(), blob.dsdt(),
                                         blob.madt()};
    for (size_t i = 1; i < order.size(); ++i) {
        EXPECT_EQ(order[i] % 16, 0u) << blob.text(order[i], 4);
        EXPECT_GE(order[i], i == 1 ? order[0] : order[i - 1] + blob.length(order[i - 1]));
    }
    EXPECT_EQ(blob.madt() + blob.length(blob.madt()), kBase + t.bytes.size());
}

TEST(AcpiTables, HeadersIdentifyXenolith) {
    const AcpiTables t = build_acpi_tables(request());
    const Blob blob(t, kBase);
    struct Expect {
        uint64_t table;
        const char* signature;
        uint8_t revision;
    };
    for (const Expect& e : {Expect{blob.xsdt(), "XSDT", 1}, Expect{blob.fadt(), "FACP", 6},
                            Expect{blob.dsdt(), "DSDT", 2}, Expect{blob.madt(), "APIC", 5}}) {
        SCOPED_TRACE(e.signature);
        EXPECT_EQ(blob.text(e.table, 4), e.signature);
        EXPECT_EQ(blob.read<uint8_t>(e.table + 8), e.revision);
        EXPECT_EQ(blob.text(e.table + 10, 6), "XENOLI");
        EXPECT_EQ(blob.text(e.table + 16, 8), "XENOLITH");
        EXPECT_EQ(blob.read<uint32_t>(e.table + 24), 1u);  // OEM revision
        EXPECT_EQ(blob.text(e.table + 28, 4), "XNLT");
        EXPECT_EQ(blob.read<uint32_t>(e.table + 32), 1u);  // creator revision
    }
}

TEST(AcpiTables, FadtDescribesAHardwareReducedPlatformWithSleepAndResetPorts) {
    const AcpiTables t = build_acpi_tables(request());
    const Blob blob(t, kBase);
    const uint64_t f = blob.fadt();
    EXPECT_EQ(blob.length(f), 276u);
    EXPECT_EQ(blob.read<uint8_t>(f + 8), 6);                           // major revision
    EXPECT_EQ(blob.read<uint8_t>(f + 131), 5);                         // minor revision
    EXPECT_EQ(blob.read<uint32_t>(f + 112), (1u << 20) | (1u << 10));  // HW_REDUCED, RESET_REG_SUP
    // No VGA, no PCIe ASPM control, no CMOS RTC; no legacy devices or 8042; MSI allowed.
    EXPECT_EQ(blob.read<uint16_t>(f + 109), (1u << 2) | (1u << 4) | (1u << 5));
    EXPECT_EQ(blob.read<uint16_t>(f + 46), 0u);  // SCI_INT
    EXPECT_EQ(blob.read<uint32_t>(f + 36), 0u);  // no FACS
    EXPECT_EQ(blob.read<uint64_t>(f + 132), 0u);
    expect_io_byte(gas(blob, f + 116), kResetPort);
    EXPECT_EQ(blob.read<uint8_t>(f + 128), kResetValue);
    expect_io_byte(gas(blob, f + 244), kSleepPort);  // SLEEP_CONTROL_REG
    expect_io_byte(gas(blob, f + 256), kSleepPort);  // SLEEP_STATUS_REG
    EXPECT_EQ(blob.text(f + 268, 8), "Xenolith");    // Hypervisor Vendor Identity

    // Every fixed-hardware block, 32- and 64-bit, is absent.
    const auto fadt = blob.table(f);
    ASSERT_EQ(fadt.size(), 276u);
    for (size_t i = 48; i < 96; ++i) EXPECT_EQ(fadt[i], 0) << "byte " << i;
    for (size_t i = 148; i < 244; ++i) EXPECT_EQ(fadt[i], 0) << "byte " << i;
}

TEST(AcpiTables, DsdtIsExactlyTheS5Package) {
    const AcpiTables t = build_acpi_tables(request());
    const Blob blob(t, kBase);
    const auto dsdt = blob.table(blob.dsdt());
    ASSERT_GE(dsdt.size(), 36u);
    const std::vector<uint8_t> aml(dsdt.begin() + 36, dsdt.end());
    // Name (_S5, Package () {5, 0, 0, 0}), as iasl compiles it.
    const std::vector<uint8_t> want = {0x08, '_',  'S',  '5',  '_',  0x12, 0x07,
                                       0x04, 0x0a, 0x05, 0x00, 0x00, 0x00};
    EXPECT_THAT(aml, ElementsAreArray(want));
    // What Linux then writes to the sleep control port to power off.
    EXPECT_EQ(kAcpiSleepControlS5, 0x34);
    EXPECT_EQ((kAcpiSleepControlS5 & kAcpiSleepTypeMask) >> kAcpiSleepTypeShift, aml[9]);
}

TEST(AcpiTables, MadtHasOneEnabledLocalApicPerVcpu) {
    for (uint32_t vcpus : {1u, 3u, kAcpiMaxVcpus}) {
        SCOPED_TRACE(vcpus);
        const AcpiTables t = build_acpi_tables(request(vcpus));
        const Blob blob(t, kBase);
        const uint64_t m = blob.madt();
        EXPECT_EQ(blob.length(m), 44u + 8 * vcpus);
        EXPECT_EQ(blob.read<uint32_t>(m + 36), 0xfee00000u);
        EXPECT_EQ(blob.read<uint32_t>(m + 40), 0u);  // no PC-AT 8259s
        unsigned entries = 0;
        for (uint64_t at = m + 44; at < m + blob.length(m); at += blob.read<uint8_t>(at + 1)) {
            ASSERT_EQ(blob.read<uint8_t>(at), 0);            // Processor Local APIC: no I/O APIC
            ASSERT_EQ(blob.read<uint8_t>(at + 1), 8);        // length
            EXPECT_EQ(blob.read<uint8_t>(at + 2), entries);  // ACPI processor UID
            EXPECT_EQ(blob.read<uint8_t>(at + 3), entries);  // APIC ID
            EXPECT_EQ(blob.read<uint32_t>(at + 4), 1u);      // enabled
            ++entries;
        }
        EXPECT_EQ(entries, vcpus);
    }
}

TEST(AcpiTables, MostVcpusFitTheSpace) {
    EXPECT_LE(build_acpi_tables(request(kAcpiMaxVcpus)).bytes.size(), kAcpiTablesMaxSize);
}

TEST(AcpiTables, PointersFollowTheBaseAddress) {
    constexpr uint64_t kHigh = 0x1'2345'6780;  // above 4 GiB: no 32-bit DSDT address
    const AcpiTables low = build_acpi_tables(request(2));
    const AcpiTables high = build_acpi_tables(request(2, kHigh));
    const Blob blob(high, kHigh);
    EXPECT_EQ(high.rsdp_paddr, kHigh);
    EXPECT_EQ(blob.xsdt(), kHigh + (low.xsdt_paddr - kBase));
    EXPECT_EQ(blob.fadt(), kHigh + (low.fadt_paddr - kBase));
    EXPECT_EQ(blob.madt(), kHigh + (low.madt_paddr - kBase));
    EXPECT_EQ(blob.dsdt(), kHigh + (low.dsdt_paddr - kBase));
    EXPECT_EQ(blob.read<uint32_t>(blob.fadt() + 40), 0u);
    EXPECT_EQ(sum(high.bytes, 0, 36), 0);
}

TEST(AcpiTables, ZeroVcpusAreRefused) {
    EXPECT_EQ(build_error(request(0)), "the ACPI tables need at least one vCPU to describe");
}

TEST(AcpiTables, MoreVcpusThanXapicIdsAreRefused) {
    EXPECT_EQ(build_error(request(kAcpiMaxVcpus + 1)),
              "the ACPI tables can describe at most 255 vCPUs (xAPIC IDs 0-254); the domain has "
              "256");
}

TEST(AcpiTables, UnalignedOrTopmostBaseIsRefused) {
    EXPECT_EQ(build_error(request(1, kBase + 8)),
              "the ACPI tables' address 0x4008 is not 16-byte aligned");
    EXPECT_THAT(build_error(request(1, UINT64_MAX - 15)), HasSubstr("leaves no room for them"));
}

}  // namespace
}  // namespace xenolith::boot
