#include "vmi/gdb/registers.hpp"

#include <array>

#include "vmi/gdb/hex.hpp"

namespace xenolith::vmi::gdb {

namespace {

using R = Registers;

// The first 40 form gdb's org.gnu.gdb.i386.core feature (its amd64 code checks for every
// one of them by number); fs_base and gs_base form org.gnu.gdb.i386.segments.
constexpr size_t kCoreCount = 40;
constexpr std::array<RegisterSpec, 42> kSpecs{{
    {"rax", 8, &R::rax, "int64", "general"},
    {"rbx", 8, &R::rbx, "int64", "general"},
    {"rcx", 8, &R::rcx, "int64", "general"},
    {"rdx", 8, &R::rdx, "int64", "general"},
    {"rsi", 8, &R::rsi, "int64", "general"},
    {"rdi", 8, &R::rdi, "int64", "general"},
    {"rbp", 8, &R::rbp, "data_ptr", "general"},
    {"rsp", 8, &R::rsp, "data_ptr", "general"},
    {"r8", 8, &R::r8, "int64", "general"},
    {"r9", 8, &R::r9, "int64", "general"},
    {"r10", 8, &R::r10, "int64", "general"},
    {"r11", 8, &R::r11, "int64", "general"},
    {"r12", 8, &R::r12, "int64", "general"},
    {"r13", 8, &R::r13, "int64", "general"},
    {"r14", 8, &R::r14, "int64", "general"},
    {"r15", 8, &R::r15, "int64", "general"},
    {"rip", 8, &R::rip, "code_ptr", "general"},
    {"eflags", 4, &R::eflags, "i386_eflags", "general"},
    {"cs", 4, &R::cs, "int32", "general"},
    {"ss", 4, &R::ss, "int32", "general"},
    {"ds", 4, &R::ds, "int32", "general"},
    {"es", 4, &R::es, "int32", "general"},
    {"fs", 4, &R::fs, "int32", "general"},
    {"gs", 4, &R::gs, "int32", "general"},
    {"st0", 10, nullptr, "i387_ext", "float"},
    {"st1", 10, nullptr, "i387_ext", "float"},
    {"st2", 10, nullptr, "i387_ext", "float"},
    {"st3", 10, nullptr, "i387_ext", "float"},
    {"st4", 10, nullptr, "i387_ext", "float"},
    {"st5", 10, nullptr, "i387_ext", "float"},
    {"st6", 10, nullptr, "i387_ext", "float"},
    {"st7", 10, nullptr, "i387_ext", "float"},
    {"fctrl", 4, nullptr, "int", "float"},
    {"fstat", 4, nullptr, "int", "float"},
    {"ftag", 4, nullptr, "int", "float"},
    {"fiseg", 4, nullptr, "int", "float"},
    {"fioff", 4, nullptr, "int", "float"},
    {"foseg", 4, nullptr, "int", "float"},
    {"fooff", 4, nullptr, "int", "float"},
    {"fop", 4, nullptr, "int", "float"},
    {"fs_base", 8, &R::fs_base, "int64", "system"},
    {"gs_base", 8, &R::gs_base, "int64", "system"},
}};

// The named bits of RFLAGS, so that `info registers` spells them out.
constexpr const char* kEflagsType = R"(<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
<field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
<field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
<field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
<field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/>
<field name="VIF" start="19" end="19"/><field name="VIP" start="20" end="20"/>
<field name="ID" start="21" end="21"/>
</flags>
)";

void append_reg(std::string& xml, const RegisterSpec& spec, size_t regnum) {
    xml += "<reg name=\"";
    xml += spec.name;
    xml += "\" bitsize=\"" + std::to_string(spec.bytes * 8) + "\" type=\"" + spec.type +
           "\" regnum=\"" + std::to_string(regnum) + "\"";
    if (spec.group) xml += std::string(" group=\"") + spec.group + "\"";
    xml += "/>\n";
}

std::string build_target_xml() {
    std::string xml =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n"
        "<architecture>i386:x86-64</architecture>\n<feature name=\"org.gnu.gdb.i386.core\">\n";
    xml += kEflagsType;
    for (size_t i = 0; i < kCoreCount; ++i) append_reg(xml, kSpecs[i], i);
    xml += "</feature>\n<feature name=\"org.gnu.gdb.i386.segments\">\n";
    for (size_t i = kCoreCount; i < kSpecs.size(); ++i) append_reg(xml, kSpecs[i], i);
    xml += "</feature>\n</target>\n";
    return xml;
}

void append_value(std::string& out, const Registers& regs, const RegisterSpec& spec) {
    if (!spec.field) {
        out.append(2 * spec.bytes, 'x');
        return;
    }
    uint64_t value = regs.*spec.field;
    for (unsigned i = 0; i < spec.bytes; ++i)
        append_hex_byte(out, static_cast<uint8_t>(value >> (8 * i)));
}

// Little-endian bytes to a value; sizes here never exceed 8 for available registers.
uint64_t little_endian(std::span<const uint8_t> bytes) {
    uint64_t value = 0;
    for (size_t i = bytes.size(); i-- > 0;) value = value << 8 | bytes[i];
    return value;
}

size_t g_packet_digits() {
    size_t digits = 0;
    for (const auto& spec : kSpecs) digits += 2 * spec.bytes;
    return digits;
}

}  // namespace

std::span<const RegisterSpec> register_specs() {
    return kSpecs;
}

std::string_view target_xml() {
    static const std::string xml = build_target_xml();
    return xml;
}

std::optional<std::string> encode_register(const Registers& regs, size_t n) {
    if (n >= kSpecs.size()) return std::nullopt;
    std::string out;
    append_value(out, regs, kSpecs[n]);
    return out;
}

bool decode_register(Registers& regs, size_t n, std::string_view hex) {
    if (n >= kSpecs.size() || !kSpecs[n].field || hex.size() != 2 * kSpecs[n].bytes) return false;
    auto bytes = parse_hex_bytes(hex);
    if (!bytes) return false;
    regs.*kSpecs[n].field = little_endian(*bytes);
    return true;
}

std::string encode_registers(const Registers& regs) {
    std::string out;
    out.reserve(g_packet_digits());
    for (const auto& spec : kSpecs) append_value(out, regs, spec);
    return out;
}

bool decode_registers(Registers& regs, std::string_view hex) {
    if (hex.size() != g_packet_digits()) return false;
    Registers updated = regs;
    size_t pos = 0;
    for (const auto& spec : kSpecs) {
        std::string_view digits = hex.substr(pos, 2 * spec.bytes);
        pos += digits.size();
        if (!spec.field) continue;  // gdb sends its placeholder for what we never supplied
        auto bytes = parse_hex_bytes(digits);
        if (!bytes) return false;
        updated.*spec.field = little_endian(*bytes);
    }
    regs = updated;
    return true;
}

}  // namespace xenolith::vmi::gdb
