#include "vmi/linux/syscall_describe.hpp"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>
#include <string_view>

#include "vmi/linux/syscall_table.hpp"

namespace xenolith::vmi::linux_guest {

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr int64_t kAtFdcwd = -100;  // <fcntl.h>'s AT_FDCWD: "relative to the cwd"

// How a call's arguments print, one letter each: d a directory fd (AT_FDCWD by name),
// i a signed int, x hex, s a string, v an argument vector (char *const[]). Calls not
// listed print six hex arguments (the table covers what an init script's processes do).
const std::map<std::string_view, std::string_view>& argument_kinds() {
    static const std::map<std::string_view, std::string_view> kinds = {
        {"read", "ixi"},
        {"write", "ixi"},
        {"open", "sxx"},
        {"close", "i"},
        {"stat", "sx"},
        {"fstat", "ix"},
        {"lstat", "sx"},
        {"poll", "xii"},
        {"lseek", "iii"},
        {"mmap", "xxxxix"},
        {"mprotect", "xxx"},
        {"munmap", "xx"},
        {"brk", "x"},
        {"rt_sigaction", "ixxi"},
        {"rt_sigprocmask", "ixxi"},
        {"ioctl", "ixx"},
        {"pread64", "ixii"},
        {"pwrite64", "ixii"},
        {"access", "sx"},
        {"pipe", "x"},
        {"dup", "i"},
        {"dup2", "ii"},
        {"nanosleep", "xx"},
        {"getpid", ""},
        {"socket", "iii"},
        {"connect", "ixi"},
        {"clone", "xxxxx"},
        {"fork", ""},
        {"vfork", ""},
        {"execve", "svx"},
        {"exit", "i"},
        {"wait4", "ixxx"},
        {"kill", "ii"},
        {"uname", "x"},
        {"fcntl", "iix"},
        {"truncate", "si"},
        {"getcwd", "xi"},
        {"chdir", "s"},
        {"rename", "ss"},
        {"mkdir", "sx"},
        {"rmdir", "s"},
        {"creat", "sx"},
        {"link", "ss"},
        {"unlink", "s"},
        {"symlink", "ss"},
        {"readlink", "sxi"},
        {"chmod", "sx"},
        {"chown", "sii"},
        {"lchown", "sii"},
        {"getuid", ""},
        {"getgid", ""},
        {"geteuid", ""},
        {"getegid", ""},
        {"getppid", ""},
        {"setpgid", "ii"},
        {"getpgrp", ""},
        {"statfs", "sx"},
        {"chroot", "s"},
        {"mount", "sssxx"},
        {"umount2", "sx"},
        {"sethostname", "xi"},
        {"gettid", ""},
        {"getdents64", "ixi"},
        {"set_tid_address", "x"},
        {"clock_gettime", "ix"},
        {"exit_group", "i"},
        {"openat", "dsxx"},
        {"mkdirat", "dsx"},
        {"fchownat", "dsiix"},
        {"newfstatat", "dsxx"},
        {"unlinkat", "dsx"},
        {"renameat", "dsds"},
        {"linkat", "dsdsx"},
        {"symlinkat", "sds"},
        {"readlinkat", "dsxi"},
        {"fchmodat", "dsx"},
        {"faccessat", "dsx"},
        {"utimensat", "dsxx"},
        {"pipe2", "xx"},
        {"dup3", "iix"},
        {"prlimit64", "iixx"},
        {"renameat2", "dsdsx"},
        {"getrandom", "xix"},
        {"execveat", "dsvxx"},
        {"statx", "dsxxx"},
        {"rseq", "xixx"},
        {"faccessat2", "dsxx"},
        {"openat2", "dsxi"},
        {"arch_prctl", "ix"},
        {"set_robust_list", "xi"},
        {"sysinfo", "x"},
        {"sched_yield", ""},
        {"ppoll", "xixxi"},
    };
    return kinds;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

std::string quoted(const std::string& s, bool truncated) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    out += '"';
    if (truncated) out += "...";
    return out;
}

std::string string_argument(const ReadUser& read, uint64_t va) {
    if (va == 0) return "NULL";
    bool truncated = false;
    std::optional<std::string> s = read_user_string(read, va, kMaxStringShown, truncated);
    return s ? quoted(*s, truncated) : hex(va);
}

// ["ls", "-l"]: pointers read one by one until the NULL that ends the vector.
std::string argv_argument(const ReadUser& read, uint64_t va) {
    if (va == 0) return "NULL";
    std::string out = "[";
    for (size_t i = 0; i < kMaxArgvShown; ++i) {
        uint64_t p = 0;
        const uint64_t slot = va + i * sizeof p;
        if (slot % sizeof p != 0 || !read(slot, {reinterpret_cast<uint8_t*>(&p), sizeof p}))
            return i == 0 ? hex(va) : out + ", ...]";
        if (p == 0) return out + "]";
        if (i) out += ", ";
        out += string_argument(read, p);
    }
    return out + ", ...]";
}

std::string argument(char kind, uint64_t value, const ReadUser& read) {
    switch (kind) {
        case 'd':
            if (static_cast<int32_t>(value) == kAtFdcwd) return "AT_FDCWD";
            [[fallthrough]];
        case 'i':
            return std::to_string(static_cast<int64_t>(value) == static_cast<int32_t>(value)
                                      ? static_cast<int64_t>(static_cast<int32_t>(value))
                                      : static_cast<int64_t>(value));
        case 's':
            return string_argument(read, value);
        case 'v':
            return argv_argument(read, value);
        default:
            return hex(value);
    }
}

}  // namespace

std::optional<std::string> read_user_string(const ReadUser& read, uint64_t va, size_t max,
                                            bool& truncated) {
    std::string out;
    truncated = false;
    uint8_t chunk[kPageSize];
    while (out.size() < max) {
        const uint64_t page_left = kPageSize - (va % kPageSize);
        const size_t n = static_cast<size_t>(std::min<uint64_t>(page_left, max - out.size()));
        if (!read(va, {chunk, n})) {
            if (out.empty()) return std::nullopt;
            truncated = true;
            return out;
        }
        for (size_t i = 0; i < n; ++i) {
            if (chunk[i] == 0) return out;
            out += static_cast<char>(chunk[i]);
        }
        va += n;
    }
    truncated = true;
    return out;
}

std::string describe_syscall(const SyscallEntry& call, const ReadUser& read) {
    std::string_view name = syscall_name(call.nr);
    std::string out = name.empty() ? "syscall_" + std::to_string(call.nr) : std::string(name);
    const auto& kinds = argument_kinds();
    auto it = kinds.find(name);
    const std::string_view spec = it != kinds.end() ? it->second : "xxxxxx";
    out += '(';
    for (size_t i = 0; i < spec.size(); ++i) {
        if (i) out += ", ";
        out += argument(spec[i], call.args[i], read);
    }
    out += ')';
    return out;
}

}  // namespace xenolith::vmi::linux_guest
