// Bad inputs to `xn run`: each ends with exit code 125, one clear "xn: ..." line on stderr
// naming what is wrong, no guest output, and nothing left behind in the config's directory.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

class XnErrors : public IntegrationTest {
  protected:
    // Runs `xn run` on `config` (written as bad.cfg) and checks the common contract; returns
    // the one stderr line for the caller's own checks.
    std::string expect_clean_failure(const std::string& config,
                                     std::vector<std::string> args = {}) {
        std::string path = dir_.write("bad.cfg", config);
        auto before = dir_.entries();
        ProcessResult r = xn_run(path, args, 10s);
        EXPECT_EQ(r.exit_code, 125) << describe(r);
        EXPECT_EQ(r.term_signal, 0) << describe(r);
        EXPECT_EQ(r.out, "") << "no guest output expected\n" << describe(r);
        std::vector<std::string> err = split_lines(r.err);
        EXPECT_EQ(err.size(), 1u) << "one message expected\n" << describe(r);
        EXPECT_EQ(dir_.entries(), before) << "xn left files behind";
        return err.empty() ? std::string() : err[0];
    }
    std::string hello_with(const std::string& kernel, const std::string& more = "") {
        GuestConfig c = app_config("hello", "sleep_ms=1");
        c.kernel = kernel;
        return c.text() + more;
    }
    TempDir dir_;
};

// A minimal, well-formed ELF64 x86-64 executable with one PT_LOAD at 1 MiB and no notes at
// all: it passes the ELF parser and must be refused as "not a Xen PV kernel".
std::string elf_without_xen_notes() {
    constexpr uint64_t kBase = 0x100000;
    std::string bytes(4096, '\0');
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = kBase + 0x100;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_X;
    ph.p_offset = 0;
    ph.p_vaddr = ph.p_paddr = kBase;
    ph.p_filesz = ph.p_memsz = bytes.size();
    ph.p_align = 4096;
    std::memcpy(bytes.data(), &eh, sizeof eh);
    std::memcpy(bytes.data() + eh.e_phoff, &ph, sizeof ph);
    bytes[0x100] = '\x0f';  // ud2
    bytes[0x101] = '\x0b';
    return bytes;
}

TEST_F(XnErrors, MissingKernelFile) {
    std::string missing = dir_.path() + "/no-such-kernel";
    std::string msg = expect_clean_failure(hello_with(missing));
    EXPECT_EQ(msg, "xn: " + missing + ": cannot open the kernel image: No such file or directory");
}

TEST_F(XnErrors, KernelThatIsNotElf) {
    std::string junk = dir_.write("junk.bin", "this is not an ELF image\n");
    std::string msg = expect_clean_failure(hello_with(junk));
    EXPECT_EQ(msg, "xn: " + junk + ": not an ELF file (bad magic)");
}

TEST_F(XnErrors, HostProgramAsKernel) {
    // /bin/true is an ELF, but a host program (PIE, no Xen notes): refused before any domain.
    std::string msg = expect_clean_failure(hello_with("/bin/true"));
    EXPECT_TRUE(starts_with(msg, "xn: /bin/true: ")) << msg;
    EXPECT_TRUE(msg.find("ET_DYN") != std::string::npos ||
                msg.find("Xen ELF notes") != std::string::npos)
        << msg;
}

TEST_F(XnErrors, ElfWithoutXenNotes) {
    std::string plain = dir_.write("plain.elf", elf_without_xen_notes());
    std::string msg = expect_clean_failure(hello_with(plain));
    EXPECT_EQ(msg, "xn: " + plain + ": no Xen ELF notes, so this is not a Xen PV kernel");
}

TEST_F(XnErrors, MemoryLargerThanTheHostAllows) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello")), {"memory=10000000"});
    EXPECT_TRUE(std::regex_match(
        msg,
        std::regex(
            R"(xn: domain hello: memory 10000000 MiB exceeds the \d+ MiB this host has available)")))
        << msg;
}

TEST_F(XnErrors, MemoryTooSmallForTheImage) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello")), {"memory=1"});
    EXPECT_TRUE(starts_with(msg, "xn: " + guest_path("hello") + ": ")) << msg;
    EXPECT_NE(msg.find("guest RAM"), std::string::npos) << msg;
}

TEST_F(XnErrors, SyntaxErrorNamesFileLineAndColumn) {
    // Line 3, column 13: a second value where a newline belongs.
    std::string msg = expect_clean_failure(
        "name = \"hello\"\n"
        "kernel = \"" +
        guest_path("hello") +
        "\"\n"
        "memory = 32 32\n");
    std::string path = dir_.path() + "/bad.cfg";
    EXPECT_TRUE(starts_with(msg, "xn: " + path + ":3:13: ")) << msg;
}

TEST_F(XnErrors, UnterminatedStringNamesFileLineAndColumn) {
    std::string msg = expect_clean_failure("name = \"hello\"\nextra = \"no end\n");
    EXPECT_TRUE(starts_with(msg, "xn: " + dir_.path() + "/bad.cfg:2:9: unterminated string"))
        << msg;
}

TEST_F(XnErrors, UnknownDomainType) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello"), "type = \"bogus\"\n"));
    // The generated config has 8 lines; the appended type= is line 9, value at column 8.
    EXPECT_EQ(msg,
              "xn: " + dir_.path() + "/bad.cfg:9:8: type: 'bogus' is not one of pv, pvh or hvm");
}

TEST_F(XnErrors, UnsupportedDomainType) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello")), {"type=\"hvm\""});
    EXPECT_EQ(msg, "xn: " + dir_.path() +
                       "/bad.cfg: type = \"hvm\" is not supported yet; use type = \"pv\"");
}

// xn run boots PV guests only: a PVH config is refused with the reason, whether or not this
// host could run PVH under the daemon.
TEST_F(XnErrors, PvhIsRefusedWithTheReason) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello")), {"type=\"pvh\""});
    const std::string path = dir_.path() + "/bad.cfg";
    const bool no_hvm =
        starts_with(msg, "xn: " + path + ": type = \"pvh\" needs hardware virtualization");
    EXPECT_TRUE(no_hvm || msg == "xn: " + path +
                                     ": type = \"pvh\": xn run boots PV guests only; "
                                     "xn create runs PVH guests")
        << msg;
}

// accel= takes auto, kvm or process, and names the bad value with file:line:column.
TEST_F(XnErrors, UnknownAccel) {
    std::string msg = expect_clean_failure(hello_with(guest_path("hello"), "accel = \"tcg\"\n"));
    EXPECT_EQ(msg, "xn: " + dir_.path() +
                       "/bad.cfg:9:9: accel: 'tcg' is not one of auto, kvm or process");
}

TEST_F(XnErrors, MissingConfigFile) {
    std::string missing = dir_.path() + "/nope.cfg";
    ProcessResult r = xn_run(missing, {}, 10s);
    EXPECT_EQ(r.exit_code, 125) << describe(r);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "xn: " + missing +
                         ": cannot open the configuration file: No such file or directory\n");
}

}  // namespace
}  // namespace xenolith::integration
