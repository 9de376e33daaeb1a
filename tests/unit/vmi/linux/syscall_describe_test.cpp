#include "vmi/linux/syscall_describe.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "vmi/linux/syscall_table.hpp"

namespace xenolith::vmi::linux_guest {
namespace {

// A process's memory as a few mapped pages; everything else does not translate.
class FakeUser {
  public:
    void map(uint64_t page) { pages_[page].fill(0); }
    void put(uint64_t va, const void* bytes, size_t len) {
        for (size_t i = 0; i < len; ++i)
            pages_.at((va + i) & ~0xfffull)[(va + i) & 0xfff] =
                static_cast<const uint8_t*>(bytes)[i];
    }
    void put_string(uint64_t va, const std::string& s) { put(va, s.c_str(), s.size() + 1); }
    ReadUser reader() {
        return [this](uint64_t va, std::span<uint8_t> out) {
            EXPECT_LE((va & 0xfff) + out.size(), 4096u) << "a read crossed a page";
            auto it = pages_.find(va & ~0xfffull);
            if (it == pages_.end()) return false;
            std::memcpy(out.data(), it->second.data() + (va & 0xfff), out.size());
            return true;
        };
    }

  private:
    std::map<uint64_t, std::array<uint8_t, 4096>> pages_;
};

TEST(SyscallTable, NamesComeFromTheHeader) {
    EXPECT_EQ(syscall_name(0), "read");
    EXPECT_EQ(syscall_name(59), "execve");
    EXPECT_EQ(syscall_name(257), "openat");
    EXPECT_EQ(syscall_name(231), "exit_group");
    EXPECT_EQ(syscall_name(100000), "");
    EXPECT_GT(syscall_count(), 300u);
}

TEST(SyscallDescribe, OpenatShowsTheDirectoryAndPath) {
    FakeUser mem;
    mem.map(0x7000);
    mem.put_string(0x7010, "/etc/passwd");
    const SyscallEntry call{257, {static_cast<uint64_t>(-100), 0x7010, 0x80000, 0, 0, 0}};
    EXPECT_EQ(describe_syscall(call, mem.reader()),
              "openat(AT_FDCWD, \"/etc/passwd\", 0x80000, 0x0)");
}

TEST(SyscallDescribe, ExecveShowsPathAndArgv) {
    FakeUser mem;
    mem.map(0x5000);
    mem.map(0x6000);
    mem.put_string(0x5000, "/bin/ls");
    mem.put_string(0x5100, "ls");
    mem.put_string(0x5200, "-l \"x\"");
    const uint64_t argv[] = {0x5100, 0x5200, 0};
    mem.put(0x6ff0 - 8, argv, sizeof argv);  // the vector itself crosses no page here
    const SyscallEntry call{59, {0x5000, 0x6ff0 - 8, 0x9000, 0, 0, 0}};
    EXPECT_EQ(describe_syscall(call, mem.reader()),
              "execve(\"/bin/ls\", [\"ls\", \"-l \\\"x\\\"\"], 0x9000)");
}

TEST(SyscallDescribe, UnmappedPointersShowAsAddresses) {
    FakeUser mem;
    const SyscallEntry call{2, {0xdead000, 0, 0, 0, 0, 0}};  // open
    EXPECT_EQ(describe_syscall(call, mem.reader()), "open(0xdead000, 0x0, 0x0)");
    const SyscallEntry null_path{2, {0, 0, 0, 0, 0, 0}};
    EXPECT_EQ(describe_syscall(null_path, mem.reader()), "open(NULL, 0x0, 0x0)");
}

TEST(SyscallDescribe, StringsCrossPagesAndStopAtUnmappedOnes) {
    FakeUser mem;
    mem.map(0x1000);
    mem.map(0x2000);
    mem.put(0x1ffd, "abc", 3);
    mem.put_string(0x2000, "def");
    bool truncated = true;
    EXPECT_EQ(read_user_string(mem.reader(), 0x1ffd, 100, truncated), "abcdef");
    EXPECT_FALSE(truncated);
    mem.put(0x2ffe, "gh", 2);  // runs into the unmapped 0x3000
    EXPECT_EQ(read_user_string(mem.reader(), 0x2ffe, 100, truncated), "gh");
    EXPECT_TRUE(truncated);
    EXPECT_EQ(read_user_string(mem.reader(), 0x1ffd, 4, truncated), "abcd");
    EXPECT_TRUE(truncated);
}

TEST(SyscallDescribe, LongStringsAreCutAndControlBytesEscaped) {
    FakeUser mem;
    mem.map(0x1000);
    mem.put_string(0x1000, std::string(300, 'a'));
    mem.put_string(0x1800, "a\nb");
    const std::string cut = describe_syscall({84, {0x1000}}, mem.reader());  // rmdir
    EXPECT_EQ(cut, "rmdir(\"" + std::string(kMaxStringShown, 'a') + "\"...)");
    EXPECT_EQ(describe_syscall({84, {0x1800}}, mem.reader()), "rmdir(\"a\\x0ab\")");
}

TEST(SyscallDescribe, UnknownCallsShowSixArguments) {
    FakeUser mem;
    EXPECT_EQ(describe_syscall({9999, {1, 2, 3, 4, 5, 6}}, mem.reader()),
              "syscall_9999(0x1, 0x2, 0x3, 0x4, 0x5, 0x6)");
    EXPECT_EQ(describe_syscall({1, {1, 0x4000, 5}}, mem.reader()), "write(1, 0x4000, 5)");
}

}  // namespace
}  // namespace xenolith::vmi::linux_guest
