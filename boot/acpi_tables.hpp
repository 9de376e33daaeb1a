// The ACPI tables of a PVH domain: what Linux needs to find its CPUs (MADT) and to power
// off (the DSDT's \_S5 and the FADT's sleep registers), on a hardware-reduced ACPI platform
// with no device model behind it.
//
// build_acpi_tables() is a pure function: it returns the bytes to place at one guest-physical
// address, in this order, each table 16-byte aligned (the RSDP needs 16, the others 8):
//   RSDP  revision 2; RSDT address 0, XSDT address set; both checksums
//   XSDT  -> FADT, MADT
//   FADT  revision 6.5, HW_REDUCED_ACPI and RESET_REG_SUP; X_DSDT; sleep control/status and
//         reset registers in System I/O space; no PM1, GPE or PM timer blocks; no FACS
//   DSDT  Name (_S5, Package () {5, 0, 0, 0}) and nothing else
//   MADT  local APIC at 0xfee00000, no 8259s, no I/O APIC; one enabled Processor Local APIC
//         per vCPU with ACPI processor UID = APIC ID = vCPU index
//
// ACPI is not Xen ABI, so the structures are defined in acpi_tables.cpp from the ACPI 6.5
// specification (chapter 5).
//
// How the hypervisor reads the guest's writes (ACPI 6.5, 4.8.3.7-4.8.3.8):
//   - sleep control port, one byte: SLP_TYP in bits 2-4, SLP_EN in bit 5. Linux powers off
//     by writing kAcpiSleepControlS5 (SLP_TYP 5 from \_S5, with SLP_EN). Before that it
//     writes kAcpiSleepStatusWake to the same port (the status register, clearing WAK_STS):
//     a write without SLP_EN requests nothing.
//   - reset port, one byte: the request's reset_value means "reset the system".
#pragma once

#include <cstdint>
#include <vector>

namespace xenolith::boot {

// The tables take at most this many bytes. kAcpiMaxVcpus' worth of MADT entries fits
// (checked in acpi_tables.cpp).
inline constexpr uint64_t kAcpiTablesMaxSize = 4096;
// The placement every table gets, and what the base address must be a multiple of.
inline constexpr uint64_t kAcpiTableAlignment = 16;
// A Processor Local APIC entry has an 8-bit APIC ID and 0xff is the xAPIC broadcast ID, so
// vCPUs 0-254 can be described.
inline constexpr uint32_t kAcpiMaxVcpus = 255;

// The sleep control register's fields and the values Linux writes (see above).
inline constexpr uint8_t kAcpiSleepTypeShift = 2;
inline constexpr uint8_t kAcpiSleepTypeMask = 0x7 << kAcpiSleepTypeShift;
inline constexpr uint8_t kAcpiSleepEnable = 1 << 5;
inline constexpr uint8_t kAcpiSleepTypeS5 = 5;  // the first element of the DSDT's \_S5
inline constexpr uint8_t kAcpiSleepControlS5 =
    (kAcpiSleepTypeS5 << kAcpiSleepTypeShift) | kAcpiSleepEnable;  // 0x34
inline constexpr uint8_t kAcpiSleepStatusWake = 1 << 7;            // WAK_STS

struct AcpiRequest {
    uint64_t base_paddr = 0;  // where the bytes go: a multiple of kAcpiTableAlignment
    uint32_t nr_vcpus = 1;
    uint16_t sleep_control_port = 0;  // also the sleep status register
    uint16_t reset_port = 0;
    uint8_t reset_value = 0;
};

struct AcpiTables {
    std::vector<uint8_t> bytes;  // for base_paddr; at most kAcpiTablesMaxSize
    uint64_t rsdp_paddr = 0;     // what hvm_start_info.rsdp_paddr carries: base_paddr
    // Where each table landed, for logs; the tables point at each other themselves.
    uint64_t xsdt_paddr = 0;
    uint64_t fadt_paddr = 0;
    uint64_t dsdt_paddr = 0;
    uint64_t madt_paddr = 0;
};

// Builds the tables for `request`. Throws xenolith::Error with one sentence for zero vCPUs,
// more than kAcpiMaxVcpus, or a base address that is unaligned or leaves no room.
AcpiTables build_acpi_tables(const AcpiRequest& request);

}  // namespace xenolith::boot
