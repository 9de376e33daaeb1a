// The x86-64 registers as gdb numbers them, and the target description (target.xml) that
// tells gdb so. gdb's amd64 support requires the core feature to list the x87 registers
// too; the Target interface does not carry them, so they are reported as unavailable
// ('x' digits on the wire) and writes to them are refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "vmi/gdb/gdb_target.hpp"

namespace xenolith::vmi::gdb {

struct RegisterSpec {
    const char* name;
    unsigned bytes;              // size on the wire
    uint64_t Registers::*field;  // nullptr: not available from the Target
    const char* type;            // gdb's type name in target.xml
    const char* group;           // gdb's register group, or nullptr
};

// In gdb's register-number order (the order of target.xml and of the g packet).
std::span<const RegisterSpec> register_specs();

// The whole target description.
std::string_view target_xml();

// Register `n` as the p packet returns it (little-endian hex, or 'x's when unavailable).
// nullopt when there is no register `n`.
std::optional<std::string> encode_register(const Registers& regs, size_t n);

// Sets register `n` from the P packet's hex value. false when there is no such register, it
// is not available, or the value is not exactly its size in hex.
bool decode_register(Registers& regs, size_t n, std::string_view hex);

// Every register in order: the g packet's reply.
std::string encode_registers(const Registers& regs);

// The G packet: every available register from `hex` (unavailable ones are skipped). false,
// with `regs` untouched, when `hex` is not exactly the g packet's size in hex digits.
bool decode_registers(Registers& regs, std::string_view hex);

}  // namespace xenolith::vmi::gdb
