// One line per system call, strace-style: `openat(AT_FDCWD, "/etc/passwd", 0x80000, 0)`.
// String arguments (paths) and argument vectors (execve's argv) are read from the calling
// process's memory through `read`, which the tracer backs with that process's page tables;
// what does not translate (not yet faulted in, or a bad pointer) shows as the bare pointer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

namespace xenolith::vmi::linux_guest {

// Copies guest-virtual [va, va+out.size()) into `out`; false when any byte does not
// translate. Never called across a page boundary.
using ReadUser = std::function<bool(uint64_t va, std::span<uint8_t> out)>;

struct SyscallEntry {
    uint64_t nr = 0;                 // RAX at the entry
    std::array<uint64_t, 6> args{};  // RDI, RSI, RDX, R10, R8, R9
};

// Strings are cut at this many bytes ("..." follows), argument vectors at this many entries.
inline constexpr size_t kMaxStringShown = 256;
inline constexpr size_t kMaxArgvShown = 32;

std::string describe_syscall(const SyscallEntry& call, const ReadUser& read);

// A NUL-terminated string at `va`, read page by page; nullopt when its first byte does not
// translate. `truncated` says whether it went on past `max` bytes (or into an unmapped page).
std::optional<std::string> read_user_string(const ReadUser& read, uint64_t va, size_t max,
                                            bool& truncated);

}  // namespace xenolith::vmi::linux_guest
