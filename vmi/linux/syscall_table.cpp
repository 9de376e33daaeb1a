#include "vmi/linux/syscall_table.hpp"

#include <algorithm>
#include <array>

namespace xenolith::vmi::linux_guest {

namespace {

struct Entry {
    uint64_t nr;
    std::string_view name;
};

constexpr Entry kEntries[] = {
#define X(name, nr) {nr, #name},
#include "syscall_numbers.inc"
#undef X
};

// The header lists calls by number with gaps (512 and up are the x32 ones' compat slots):
// a table indexed by number, built once.
constexpr uint64_t kMaxNr = [] {
    uint64_t max = 0;
    for (const Entry& e : kEntries) max = std::max(max, e.nr);
    return max;
}();

constexpr auto kByNumber = [] {
    std::array<std::string_view, kMaxNr + 1> table{};
    for (const Entry& e : kEntries) table[e.nr] = e.name;
    return table;
}();

}  // namespace

std::string_view syscall_name(uint64_t nr) {
    return nr <= kMaxNr ? kByNumber[nr] : std::string_view{};
}

size_t syscall_count() {
    return std::size(kEntries);
}

}  // namespace xenolith::vmi::linux_guest
