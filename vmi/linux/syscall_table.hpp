// The x86-64 Linux system calls by number, named as Debian's linux-libc-dev names them
// (<asm/unistd_64.h>, read when the build is configured).
#pragma once

#include <cstdint>
#include <string_view>

namespace xenolith::vmi::linux_guest {

// "openat" for 257; empty for a number the header does not have.
std::string_view syscall_name(uint64_t nr);
// How many calls the table knows (for tests: the header has some 360).
size_t syscall_count();

}  // namespace xenolith::vmi::linux_guest
