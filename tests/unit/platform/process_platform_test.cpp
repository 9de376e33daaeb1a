// The process platform's mechanism, on its own: tiny hand-assembled guests in a memfd, run
// by a sandboxed stub process driven with ptrace.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <initializer_list>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "platform/process/decode.hpp"
#include "platform/process/process_platform.hpp"

namespace xenolith::platform::process {
namespace {

constexpr uint64_t kRamSize = 1 << 20;
constexpr uint64_t kCode = 0x20000;   // above any usual vm.mmap_min_addr (4096 or 65536)
constexpr uint64_t kStack = 0x80000;  // top of the guest's stack

// Guest RAM for a test: a memfd mapped here, as hv/ provides it.
class GuestRam {
  public:
    explicit GuestRam(uint64_t size = kRamSize)
        : fd_(static_cast<int>(check_syscall(::memfd_create("guest-ram", MFD_CLOEXEC), "memfd"))) {
        check_syscall(::ftruncate(fd_.get(), static_cast<off_t>(size)), "ftruncate");
        map_ = Mapping::map(fd_.get(), size, PROT_READ | PROT_WRITE, MAP_SHARED);
    }
    Ram ram() const { return Ram{fd_.get(), map_.data(), map_.size()}; }
    void put(uint64_t gpa, std::initializer_list<uint8_t> bytes) {
        std::memcpy(map_.data() + gpa, bytes.begin(), bytes.size());
    }
    void put64(uint64_t gpa, uint64_t v) { std::memcpy(map_.data() + gpa, &v, sizeof v); }

  private:
    UniqueFd fd_;
    Mapping map_;
};

VmConfig config_for(const GuestRam& ram, uint32_t vcpus = 1) {
    VmConfig c;
    c.ram = ram.ram();
    c.vcpus = vcpus;
    return c;
}

BootContext boot_at(uint64_t rip) {
    BootContext ctx;
    ctx.regs.rip = rip;
    ctx.regs.rsp = kStack;
    ctx.cr3 = 0x1000;
    return ctx;
}

// `movabs $imm64, %rax` followed by more bytes.
std::vector<uint8_t> movabs_rax(uint64_t v) {
    std::vector<uint8_t> b{0x48, 0xb8};
    for (int i = 0; i < 8; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return b;
}

struct Fixture : ::testing::Test {
    GuestRam ram;
    ProcessPlatform platform;
    std::unique_ptr<Vm> vm;
    std::unique_ptr<Vcpu> vcpu;

    void start(uint32_t vcpus = 1) {
        vm = platform.create_vm(config_for(ram, vcpus));
        vcpu = vm->create_vcpu(0);
    }
    // Starts vCPU 0 at kCode running `code`.
    void boot(std::initializer_list<uint8_t> code, uint32_t vcpus = 1) {
        ram.put(kCode, code);
        start(vcpus);
        vcpu->boot(boot_at(kCode));
    }
    void boot(const std::vector<uint8_t>& code) {
        std::memcpy(ram.ram().host + kCode, code.data(), code.size());
        start();
        vcpu->boot(boot_at(kCode));
    }
    ProcessVm& pvm() { return dynamic_cast<ProcessVm&>(*vm); }
};

using ProcessPlatformTest = Fixture;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) return names;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
            names.push_back(e->d_name);
    ::closedir(d);
    return names;
}

std::string status_field(pid_t pid, const std::string& field) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) {
            std::string v = line.substr(field.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "";
}

// ---- hypercalls and notifications ---------------------------------------------------

TEST_F(ProcessPlatformTest, HypercallExposesRegistersAndTakesResult) {
    boot({
        0xb8, 0x34, 0x12, 0x00, 0x00,   // mov $0x1234, %eax
        0xe7, XENOLITH_HYPERCALL_PORT,  // out %eax, $hypercall
        0xe7, XENOLITH_NOTIFY_PORT,     // out %eax, $notify: reports the result
        0x0f, 0x0b,                     // ud2
    });
    vcpu->regs().rdi = 11, vcpu->regs().rsi = 22, vcpu->regs().rdx = 33;
    vcpu->regs().r10 = 44, vcpu->regs().r8 = 55;
    vcpu->mark_regs_dirty();
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Hypercall) << exit.what;
    EXPECT_EQ(exit.value, 0x1234u);
    const Registers& r = vcpu->regs();
    EXPECT_EQ(r.rdi, 11u);
    EXPECT_EQ(r.rsi, 22u);
    EXPECT_EQ(r.rdx, 33u);
    EXPECT_EQ(r.r10, 44u);
    EXPECT_EQ(r.r8, 55u);
    EXPECT_EQ(r.rip, kCode + 7) << "RIP is past the out";
    EXPECT_EQ(r.rsp, kStack);
    vcpu->regs().rax = 0xfffffffffffffff2ull;  // -XEN_EINVAL-ish: all 64 bits go back
    vcpu->mark_regs_dirty();
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Notify) << exit.what;
    EXPECT_EQ(exit.value, 0xfffffff2u);
    EXPECT_EQ(vcpu->regs().rax, 0xfffffffffffffff2ull);
    EXPECT_EQ(vcpu->regs().rip, kCode + 9);
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_NE(exit.what.find("invalid opcode"), std::string::npos) << exit.what;
}

TEST_F(ProcessPlatformTest, NotifyExitCarriesThePort) {
    boot({0xb8, 0x07, 0x00, 0x00, 0x00, 0xe7, XENOLITH_NOTIFY_PORT, 0xeb, 0xfe});
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Notify) << exit.what;
    EXPECT_EQ(exit.value, 7u);
    EXPECT_EQ(vcpu->regs().rip, kCode + 7);
}

TEST_F(ProcessPlatformTest, LoopOfHypercalls) {
    boot({
        0x48, 0xff, 0xc3,  // inc %rbx
        0x89, 0xd8,        // mov %ebx, %eax
        0xe7, 0x58,        // out %eax, $hypercall
        0xeb, 0xf7,        // jmp back to the inc
    });
    for (uint64_t i = 1; i <= 500; i++) {
        Exit exit = vcpu->run();
        ASSERT_EQ(exit.kind, Exit::Kind::Hypercall) << exit.what;
        ASSERT_EQ(exit.value, i);
        ASSERT_EQ(vcpu->regs().rbx, i);
    }
}

TEST_F(ProcessPlatformTest, OtherPortsAndPrivilegedInstructionsAreGeneralProtection) {
    boot({0xe7, 0x80});  // out %eax, $0x80
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_NE(exit.what.find("general protection"), std::string::npos) << exit.what;
    EXPECT_EQ(vcpu->regs().rip, kCode);
}

// ---- faults -------------------------------------------------------------------------

TEST_F(ProcessPlatformTest, SyscallIsAFaultNamingTheSystemCall) {
    boot({0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05});  // mov $39 (getpid), %eax; syscall
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "host system call 39 (x86_64)");
}

TEST_F(ProcessPlatformTest, Int80IsAFault) {
    boot({0xb8, 0x14, 0x00, 0x00, 0x00, 0xcd, 0x80});  // mov $20, %eax; int $0x80
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    // Without IA32 emulation in the host kernel, int $0x80 is a #GP instead.
    EXPECT_TRUE(exit.what.find("host system call 20 (i386") != std::string::npos ||
                exit.what.find("general protection") != std::string::npos)
        << exit.what;
}

TEST_F(ProcessPlatformTest, ReadFarOutsideRamIsAPageFault) {
    std::vector<uint8_t> code = movabs_rax(0x7fff00000000);
    code.insert(code.end(), {0x48, 0x8b, 0x00});  // mov (%rax), %rax
    boot(code);
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "guest page fault at 0x7fff00000000");
    EXPECT_EQ(exit.fault_address, 0x7fff00000000u);
    EXPECT_EQ(vcpu->control_registers().cr2, 0x7fff00000000u);
    EXPECT_EQ(vcpu->control_registers().cr3, 0x1000u);
}

TEST_F(ProcessPlatformTest, WriteJustPastRamIsAPageFault) {
    std::vector<uint8_t> code = movabs_rax(kRamSize);
    code.insert(code.end(), {0x48, 0x89, 0x00});  // mov %rax, (%rax)
    boot(code);
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.fault_address, kRamSize) << exit.what;
}

TEST_F(ProcessPlatformTest, NullPageIsUnmapped) {
    boot({0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00});  // mov 0x8, %rax
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.fault_address, 8u) << exit.what;
}

TEST_F(ProcessPlatformTest, JumpAboveRamIsAnInstructionFetchFault) {
    // Where the stub's own code was: it is gone.
    std::vector<uint8_t> code = movabs_rax(0x555555554000);
    code.insert(code.end(), {0xff, 0xe0});  // jmp *%rax
    boot(code);
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "guest page fault at 0x555555554000 (instruction fetch)");
    EXPECT_EQ(vcpu->regs().rip, 0x555555554000u);
}

TEST_F(ProcessPlatformTest, Ud2IsInvalidOpcode) {
    boot({0x90, 0x0f, 0x0b});
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "guest exception: invalid opcode");
    EXPECT_EQ(vcpu->regs().rip, kCode + 1);
}

TEST_F(ProcessPlatformTest, Int3IsABreakpointExitWithRipPastIt) {
    boot({0xcc});
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug);
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint));
    EXPECT_EQ(vcpu->regs().rip, kCode + 1);
    // For a crash report, when it is nobody's breakpoint.
    EXPECT_NE(exit.what.find("breakpoint (int3)"), std::string::npos) << exit.what;
}

TEST_F(ProcessPlatformTest, SingleStepRunsOneInstructionAtATime) {
    boot({0x90, 0x48, 0x31, 0xc0, 0xcc});  // nop; xor %rax, %rax; int3
    vcpu->regs().rax = 7;
    vcpu->mark_regs_dirty();
    ASSERT_TRUE(vcpu->set_single_step(true));
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug);
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::SingleStep));
    EXPECT_EQ(vcpu->regs().rip, kCode + 1);
    EXPECT_EQ(vcpu->regs().rax, 7u);
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug);
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::SingleStep));
    EXPECT_EQ(vcpu->regs().rip, kCode + 4);
    EXPECT_EQ(vcpu->regs().rax, 0u);
    // Stepping off: it runs until the int3.
    ASSERT_TRUE(vcpu->set_single_step(false));
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug);
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint));
    EXPECT_EQ(vcpu->regs().rip, kCode + 5);
}

TEST_F(ProcessPlatformTest, SteppingAHypercallStopsAtTheHypercall) {
    boot({0xe7, 0x58, 0x90});  // out %eax, $0x58; nop
    vcpu->regs().rax = 17;
    vcpu->mark_regs_dirty();
    ASSERT_TRUE(vcpu->set_single_step(true));
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Hypercall);
    EXPECT_EQ(exit.value, 17u);
    EXPECT_EQ(vcpu->regs().rip, kCode + 2);
}

TEST_F(ProcessPlatformTest, ATrapFlagTheGuestSetsIsAFaultWhenNotStepping) {
    // pushf; orq $0x100, (%rsp); popf; nop
    boot({0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9d, 0x90});
    vcpu->regs().rsp = kCode + 0x800;
    vcpu->mark_regs_dirty();
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "guest exception: debug trap");
}

TEST_F(ProcessPlatformTest, DivideByZero) {
    boot({0x31, 0xc9, 0xf7, 0xf1});  // xor %ecx, %ecx; div %ecx
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Fault);
    EXPECT_EQ(exit.what, "guest exception: divide error");
}

TEST_F(ProcessPlatformTest, FsGsBaseFromBootContextAndInstructions) {
    boot({
        0xf3, 0x48, 0x0f, 0xae, 0xc0,  // rdfsbase %rax
        0xf3, 0x48, 0x0f, 0xae, 0xcb,  // rdgsbase %rbx
        0xf3, 0x48, 0x0f, 0xae, 0xd9,  // wrgsbase %rcx
        0xf3, 0x48, 0x0f, 0xae, 0xca,  // rdgsbase %rdx
        0xe7, 0x58,                    // out %eax, $hypercall
        0xeb, 0xfe,
    });
    BootContext ctx = boot_at(kCode);
    ctx.fs_base = 0x1111000;
    ctx.gs_base = 0x2222000;
    ctx.regs.rcx = 0x3333000;
    vcpu->boot(ctx);
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Hypercall) << exit.what;
    EXPECT_EQ(vcpu->regs().rax, 0x1111000u);
    EXPECT_EQ(vcpu->regs().rbx, 0x2222000u);
    EXPECT_EQ(vcpu->regs().rdx, 0x3333000u);
}

// ---- save/restore: the state a vCPU carries to another -----------------------------------

// A guest leaves a value in %xmm3, a non-default MXCSR (flush-to-zero) and the carry flag set;
// its vCPU's state boots a vCPU of another VM, whose guest finds all three as they were.
TEST_F(ProcessPlatformTest, ExtendedStateAndArithmeticFlagsCarryToANewVcpu) {
    std::vector<uint8_t> code = movabs_rax(0x1122334455667788);
    for (uint8_t b : {0x66, 0x48, 0x0f, 0x6e, 0xd8,  // movq %rax, %xmm3
                      0x68, 0x80, 0x9f, 0x00, 0x00,  // push $0x9f80
                      0x0f, 0xae, 0x14, 0x24,        // ldmxcsr (%rsp)
                      0xf9,                          // stc
                      0xe7, 0x58,                    // out %eax, $hypercall
                      0xeb, 0xfe})
        code.push_back(b);
    std::memcpy(ram.ram().host + kCode, code.data(), code.size());
    start();
    BootContext ctx = boot_at(kCode);
    ctx.fs_base = 0x4444000;
    vcpu->boot(ctx);
    ASSERT_EQ(vcpu->run().kind, Exit::Kind::Hypercall);
    const ExtendedState saved = vcpu->extended_state();
    const Registers regs = vcpu->regs();
    EXPECT_EQ(saved.fs_base, 0x4444000u);
    uint32_t mxcsr;
    std::memcpy(&mxcsr, saved.fpu.bytes.data() + 24, sizeof mxcsr);
    EXPECT_EQ(mxcsr, 0x9f80u);
    uint64_t xmm3;
    std::memcpy(&xmm3, saved.fpu.bytes.data() + 160 + 3 * 16, sizeof xmm3);
    EXPECT_EQ(xmm3, 0x1122334455667788u);
    EXPECT_TRUE(regs.rflags & 1) << "CF";

    GuestRam ram2;
    ram2.put(kCode, {0x66, 0x48, 0x0f, 0x7e, 0xdb,  // movq %xmm3, %rbx
                     0x0f, 0x92, 0xc2,              // setc %dl
                     0x0f, 0xae, 0x1c, 0x24,        // stmxcsr (%rsp)
                     0x8b, 0x0c, 0x24,              // mov (%rsp), %ecx
                     0xe7, 0x58, 0xeb, 0xfe});
    auto vm2 = platform.create_vm(config_for(ram2));
    auto vcpu2 = vm2->create_vcpu(0);
    BootContext restored = boot_at(kCode);
    restored.regs = regs;
    restored.regs.rip = kCode;
    restored.regs.rbx = restored.regs.rcx = restored.regs.rdx = 0;
    restored.fs_base = saved.fs_base;
    restored.fpu = saved.fpu;
    vcpu2->boot(restored);
    ASSERT_EQ(vcpu2->run().kind, Exit::Kind::Hypercall);
    EXPECT_EQ(vcpu2->regs().rbx, 0x1122334455667788u);
    EXPECT_EQ(vcpu2->regs().rdx & 0xff, 1u) << "the carry flag came along";
    EXPECT_EQ(vcpu2->regs().rcx & 0xffffffff, 0x9f80u);
    EXPECT_EQ(vcpu2->extended_state().fs_base, 0x4444000u);
    // IF and the always-one bit are the platform's, whatever the saved flags said.
    EXPECT_EQ(vcpu2->regs().rflags & 0x202, 0x202u);
}

// ---- exits on request ---------------------------------------------------------------

TEST_F(ProcessPlatformTest, SpinningGuestIsInterruptedFromAnotherThread) {
    boot({0xeb, 0xfe});  // jmp .
    for (int round = 0; round < 3; round++) {
        vcpu->clear_exit_request();
        std::thread kicker([this] {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            vcpu->request_exit();
        });
        Exit exit = vcpu->run();
        kicker.join();
        ASSERT_EQ(exit.kind, Exit::Kind::Interrupted) << exit.what;
        EXPECT_EQ(vcpu->regs().rip, kCode);
    }
    // A request made before run() makes it return at once; clearing it lets the guest run.
    vcpu->request_exit();
    EXPECT_EQ(vcpu->run().kind, Exit::Kind::Interrupted);
}

// After an interrupted run the registers are the guest's as it was stopped, not those of the
// previous stop: the hypervisor redirects the vCPU from them (an event upcall).
TEST_F(ProcessPlatformTest, InterruptedRunShowsTheGuestsCurrentRegisters) {
    ram.put(kCode + 0x100, {0xe7, 0x58});  // a hypercall stub to redirect to
    boot({0x48, 0xff, 0xc3, 0xeb, 0xfb});  // 1: inc %rbx; jmp 1b
    std::thread kicker([this] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        vcpu->request_exit();
    });
    Exit exit = vcpu->run();
    kicker.join();
    ASSERT_EQ(exit.kind, Exit::Kind::Interrupted) << exit.what;
    const uint64_t counted = vcpu->regs().rbx;
    EXPECT_GT(counted, 0u) << "the registers are those of the boot, not of the stop";
    EXPECT_TRUE(vcpu->regs().rip == kCode || vcpu->regs().rip == kCode + 3);
    vcpu->regs().rip = kCode + 0x100;
    vcpu->mark_regs_dirty();
    vcpu->clear_exit_request();
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Hypercall) << exit.what;
    EXPECT_GE(vcpu->regs().rbx, counted);
}

TEST_F(ProcessPlatformTest, StaleKickDoesNotInterruptTheNextRun) {
    boot({0xe7, 0x58, 0xeb, 0xfc});  // 1: out %eax, $hypercall; jmp 1b
    // A kick that reaches the stopped stub thread after its run() returned.
    ::syscall(SYS_tgkill, pvm().stub_pid(), pvm().stub_tid(0), kick_signal());
    for (int i = 0; i < 20; i++) ASSERT_EQ(vcpu->run().kind, Exit::Kind::Hypercall);
}

void on_test_kick(int) {}

TEST_F(ProcessPlatformTest, SignalToTheHostThreadInterruptsRun) {
    // What hv/ does: a handler without SA_RESTART, so the wait for the stub returns EINTR.
    struct sigaction sa {
    }, old{};
    sa.sa_handler = on_test_kick;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(kick_signal(), &sa, &old), 0);
    boot({0xeb, 0xfe});
    pthread_t self = ::pthread_self();
    std::thread kicker([self] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        ::pthread_kill(self, kick_signal());
    });
    Exit exit = vcpu->run();
    kicker.join();
    ::sigaction(kick_signal(), &old, nullptr);
    EXPECT_EQ(exit.kind, Exit::Kind::Interrupted) << exit.what;
}

// ---- vCPUs --------------------------------------------------------------------------

TEST_F(ProcessPlatformTest, TwoVcpusRunConcurrentlyOnTwoThreads) {
    ram.put(kCode, {0xe7, 0x58, 0x48, 0xff, 0xc3, 0xeb, 0xf9});  // 1: out; inc %rbx; jmp 1b
    start(2);
    std::unique_ptr<Vcpu> second = vm->create_vcpu(1);
    EXPECT_NE(pvm().stub_tid(0), pvm().stub_tid(1));
    // A tracer thread that exits takes the stub with it (PTRACE_O_EXITKILL): each host
    // thread stays until both are done.
    std::latch done(2);
    auto drive = [&done](Vcpu& v, uint64_t tag) {
        BootContext ctx = boot_at(kCode);
        ctx.regs.rax = tag;
        ctx.regs.rsp = kStack - tag * 0x1000;
        v.boot(ctx);
        std::string error;
        for (uint64_t i = 0; i < 300 && error.empty(); i++) {
            Exit e = v.run();
            if (e.kind != Exit::Kind::Hypercall || e.value != tag || v.regs().rbx != i)
                error = "vCPU " + std::to_string(tag) + ": " + e.what;
        }
        done.arrive_and_wait();
        return error;
    };
    // The secondary may boot first: it waits for vCPU 0 to seal the stub.
    auto one = std::async(std::launch::async, drive, std::ref(*second), 1);
    auto zero = std::async(std::launch::async, drive, std::ref(*vcpu), 0);
    EXPECT_EQ(zero.get(), "");
    EXPECT_EQ(one.get(), "");
}

TEST_F(ProcessPlatformTest, EightVcpusBootInAnyOrder) {
    ram.put(kCode, {0xe7, 0x58, 0xeb, 0xfc});  // 1: out %eax, $hypercall; jmp 1b
    constexpr uint32_t kVcpus = 8;
    start(kVcpus);
    std::vector<std::unique_ptr<Vcpu>> vcpus;
    vcpus.push_back(std::move(vcpu));
    for (uint32_t i = 1; i < kVcpus; i++) vcpus.push_back(vm->create_vcpu(i));
    std::latch done(kVcpus);
    std::vector<std::future<uint64_t>> results;
    for (uint32_t i = kVcpus; i-- > 0;)  // the secondaries first: they wait for vCPU 0
        results.push_back(std::async(std::launch::async, [&, i] {
            BootContext ctx = boot_at(kCode);
            ctx.regs.rax = 100 + i;
            vcpus[i]->boot(ctx);
            uint64_t value = vcpus[i]->run().value;
            done.arrive_and_wait();
            return value;
        }));
    for (uint32_t k = 0; k < kVcpus; k++) EXPECT_EQ(results[k].get(), 100 + (kVcpus - 1 - k));
}

TEST_F(ProcessPlatformTest, VcpuUsedFromAnotherThreadIsAnError) {
    boot({0xeb, 0xfe});
    std::string error;
    std::thread([&] {
        try {
            vcpu->run();
        } catch (const Error& e) {
            error = e.what();
        }
    }).join();
    EXPECT_NE(error.find("other than the one that booted it"), std::string::npos) << error;
}

TEST_F(ProcessPlatformTest, EachVcpuOnceAndWithinTheVm) {
    start(2);
    EXPECT_THROW(vm->create_vcpu(0), Error);
    EXPECT_THROW(vm->create_vcpu(2), Error);
    EXPECT_NE(vm->create_vcpu(1), nullptr);
}

// ---- the sandbox --------------------------------------------------------------------

// ---- page-write events (the stub's userfaultfd) ------------------------------------

constexpr uint64_t kData = 0x30000;

// mov $0x42, %al; mov %al, kData+1; int3
constexpr std::initializer_list<uint8_t> kStoreByte = {0xb0, 0x42, 0x88, 0x04, 0x25,
                                                       0x01, 0x00, 0x03, 0x00, 0xcc};

uint8_t byte_at(const GuestRam& ram, uint64_t gpa) {
    return ram.ram().host[gpa];
}

TEST_F(ProcessPlatformTest, AWatchedWriteExitsAtTheWriterAndPerformingItMakesIt) {
    boot(kStoreByte);
    ASSERT_TRUE(vm->watch_writes(kData, 1, true));
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug) << exit.what;
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Write));
    EXPECT_EQ(exit.fault_address, kData + 1);
    EXPECT_EQ(vcpu->regs().rip, kCode + 2);  // the store, not yet made
    EXPECT_EQ(byte_at(ram, kData + 1), 0);
    vcpu->complete_write(true);
    exit = vcpu->run();
    ASSERT_EQ(exit.kind, Exit::Kind::Debug);
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint));
    EXPECT_EQ(byte_at(ram, kData + 1), 0x42);
    // Still watched: the same store again exits again.
    vcpu->regs().rip = kCode + 2;
    vcpu->mark_regs_dirty();
    exit = vcpu->run();
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Write));
    // The host's own mapping is never watched.
    ram.put(kData + 1, {0x17});
    EXPECT_EQ(byte_at(ram, kData + 1), 0x17);
}

TEST_F(ProcessPlatformTest, ADroppedWriteLeavesMemoryAsItWas) {
    boot(kStoreByte);
    ASSERT_TRUE(vm->watch_writes(kData, 4096, true));
    ASSERT_EQ(vcpu->run().value, static_cast<uint64_t>(DebugExit::Write));
    vcpu->complete_write(false);
    vcpu->regs().rip = kCode + 9;  // past the store, as a debugger might
    vcpu->mark_regs_dirty();
    Exit exit = vcpu->run();
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint));
    EXPECT_EQ(byte_at(ram, kData + 1), 0);
}

TEST_F(ProcessPlatformTest, AWatchRemovedMeanwhileLetsTheInstructionWriteWhenItRunsAgain) {
    boot(kStoreByte);
    ASSERT_TRUE(vm->watch_writes(kData, 1, true));
    ASSERT_EQ(vcpu->run().value, static_cast<uint64_t>(DebugExit::Write));
    ASSERT_TRUE(vm->watch_writes(kData, 1, false));
    // Unanswered: the store runs again and, unwatched now, writes.
    Exit exit = vcpu->run();
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint));
    EXPECT_EQ(byte_at(ram, kData + 1), 0x42);
}

TEST_F(ProcessPlatformTest, AWriteAcrossTwoWatchedPagesIsOneEventAndOneStep) {
    // movabs $0x1122334455667788, %rax; mov %rax, kData+0xffc; int3
    std::vector<uint8_t> code = movabs_rax(0x1122334455667788ull);
    for (uint8_t b : {0x48, 0x89, 0x04, 0x25, 0xfc, 0x0f, 0x03, 0x00, 0xcc}) code.push_back(b);
    boot(code);
    ASSERT_TRUE(vm->watch_writes(kData, 8192, true));
    Exit exit = vcpu->run();
    ASSERT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Write));
    EXPECT_EQ(exit.fault_address, kData + 0xffc);
    vcpu->complete_write(true);
    exit = vcpu->run();
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::Breakpoint)) << exit.what;
    uint64_t written = 0;
    std::memcpy(&written, ram.ram().host + kData + 0xffc, 8);
    EXPECT_EQ(written, 0x1122334455667788ull);
}

TEST_F(ProcessPlatformTest, APerformedWriteWhileSteppingIsTheStep) {
    boot(kStoreByte);
    ASSERT_TRUE(vm->watch_writes(kData, 1, true));
    ASSERT_EQ(vcpu->run().value, static_cast<uint64_t>(DebugExit::Write));
    ASSERT_TRUE(vcpu->set_single_step(true));
    vcpu->complete_write(true);
    Exit exit = vcpu->run();
    EXPECT_EQ(exit.value, static_cast<uint64_t>(DebugExit::SingleStep));
    EXPECT_EQ(vcpu->regs().rip, kCode + 9);
    EXPECT_EQ(byte_at(ram, kData + 1), 0x42);
}

TEST_F(ProcessPlatformTest, WatchesOutsideRamAreErrors) {
    boot({0xcc});
    EXPECT_THROW(vm->watch_writes(kRamSize, 1, true), Error);
    EXPECT_THROW(vm->watch_writes(kRamSize - 1, 2, true), Error);
    EXPECT_THROW(vm->watch_writes(0, 1, true), Error);  // below what the stub maps
    EXPECT_THROW(vm->watch_writes(kData, 0, true), Error);
    EXPECT_THROW(vm->watch_writes(~0ull - 1, 4, true), Error);
    EXPECT_EQ(vcpu->run().value, static_cast<uint64_t>(DebugExit::Breakpoint));
}

TEST_F(ProcessPlatformTest, SealedStubHasOnlyGuestRamNoFdsNoPrivileges) {
    boot({0xeb, 0xfe}, 2);
    const pid_t pid = pvm().stub_pid();
    const std::string proc = "/proc/" + std::to_string(pid);
    std::istringstream maps(read_file(proc + "/maps"));
    std::vector<std::string> lines;
    for (std::string line; std::getline(maps, line);)
        if (line.find("[vsyscall]") == std::string::npos) lines.push_back(line);  // kernel's
    ASSERT_EQ(lines.size(), 1u) << read_file(proc + "/maps");
    char expect[64];
    std::snprintf(expect, sizeof expect, "%08llx-%08llx rwxs %08llx ",
                  static_cast<unsigned long long>(lowest_guest_address()),
                  static_cast<unsigned long long>(kRamSize),
                  static_cast<unsigned long long>(lowest_guest_address()));
    EXPECT_EQ(lines[0].rfind(expect, 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find("/memfd:guest-ram"), std::string::npos) << lines[0];
    EXPECT_TRUE(list_dir(proc + "/fd").empty());
    for (const std::string& tid : list_dir(proc + "/task")) {
        const pid_t t = std::stoi(tid);
        EXPECT_EQ(status_field(t, "Seccomp"), "2") << tid;
        EXPECT_EQ(status_field(t, "NoNewPrivs"), "1") << tid;
        EXPECT_EQ(status_field(t, "CapEff"), "0000000000000000") << tid;
        EXPECT_EQ(status_field(t, "CapPrm"), "0000000000000000") << tid;
        if (::geteuid() == 0) {
            EXPECT_EQ(status_field(t, "Uid"), "65534\t65534\t65534\t65534") << tid;
            EXPECT_EQ(status_field(t, "Gid"), "65534\t65534\t65534\t65534") << tid;
            EXPECT_EQ(status_field(t, "Groups"), "") << tid;
        }
    }
    EXPECT_EQ(list_dir(proc + "/task").size(), 2u);
}

// Mappings of files (guest RAM is a memfd) in this process. Anonymous ones are left out:
// the allocator (ASan's especially) maps and keeps arenas of its own as it pleases.
size_t file_map_count() {
    std::istringstream maps(read_file("/proc/self/maps"));
    size_t n = 0;
    for (std::string line; std::getline(maps, line);) {
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode, path;
        fields >> range >> perms >> offset >> dev >> inode >> path;
        if (inode != "0" && !path.empty()) ++n;
    }
    return n;
}

int open_fds() {
    return static_cast<int>(list_dir("/proc/self/fd").size());
}

bool process_gone(pid_t pid) {
    errno = 0;
    return ::kill(pid, 0) < 0 && errno == ESRCH;
}

TEST(ProcessPlatformLifetime, DestroyedVmLeavesNoProcessFdOrMapping) {
    const int fds_before = open_fds();
    const size_t maps_before = file_map_count();
    pid_t pid;
    {
        GuestRam ram;
        ram.put(kCode, {0xe7, 0x58, 0xeb, 0xfe});
        ProcessPlatform platform;
        std::unique_ptr<Vm> vm = platform.create_vm(config_for(ram, 2));
        pid = dynamic_cast<ProcessVm&>(*vm).stub_pid();
        std::unique_ptr<Vcpu> vcpu = vm->create_vcpu(0);
        vcpu->boot(boot_at(kCode));
        ASSERT_EQ(vcpu->run().kind, Exit::Kind::Hypercall);
        EXPECT_FALSE(process_gone(pid));
        vm.reset();  // the vCPU still exists: the stub goes anyway
        EXPECT_TRUE(process_gone(pid));
        EXPECT_THROW(vcpu->run(), Error);
    }
    EXPECT_TRUE(process_gone(pid));
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG | __WALL), -1);
    EXPECT_EQ(errno, ECHILD);
    EXPECT_EQ(open_fds(), fds_before);
    EXPECT_EQ(file_map_count(), maps_before);
}

TEST(ProcessPlatformLifetime, UnbootedVmIsReapedToo) {
    const int fds_before = open_fds();
    GuestRam ram;
    pid_t pid;
    {
        ProcessPlatform platform;
        std::unique_ptr<Vm> vm = platform.create_vm(config_for(ram, 3));
        pid = dynamic_cast<ProcessVm&>(*vm).stub_pid();
    }
    EXPECT_TRUE(process_gone(pid));
    EXPECT_EQ(open_fds(), fds_before + 1);  // the test's own memfd
}

TEST(ProcessPlatformLifetime, VmOutlivesTheThreadThatCreatedIt) {
    GuestRam ram;
    ram.put(kCode, {0xe7, 0x58, 0xeb, 0xfe});
    ProcessPlatform platform;
    std::unique_ptr<Vm> vm;
    std::thread([&] { vm = platform.create_vm(config_for(ram)); }).join();
    std::unique_ptr<Vcpu> vcpu = vm->create_vcpu(0);
    vcpu->boot(boot_at(kCode));
    EXPECT_EQ(vcpu->run().kind, Exit::Kind::Hypercall);
}

// Forks a "daemon" that makes a VM (booted or not), then kills it: the stub must die.
void expect_stub_dies_with_daemon(bool boot_it) {
    GuestRam ram;
    ram.put(kCode, {0xeb, 0xfe});
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t daemon = ::fork();
    ASSERT_GE(daemon, 0);
    if (daemon == 0) {
        ProcessPlatform platform;
        std::unique_ptr<Vm> vm = platform.create_vm(config_for(ram));
        std::unique_ptr<Vcpu> vcpu = vm->create_vcpu(0);
        if (boot_it) vcpu->boot(boot_at(kCode));
        pid_t stub = dynamic_cast<ProcessVm&>(*vm).stub_pid();
        if (::write(pipefd[1], &stub, sizeof stub) != sizeof stub) ::_exit(1);
        if (boot_it) vcpu->run();
        ::pause();
        ::_exit(0);
    }
    ::close(pipefd[1]);
    pid_t stub = 0;
    ASSERT_EQ(::read(pipefd[0], &stub, sizeof stub), static_cast<ssize_t>(sizeof stub));
    ::close(pipefd[0]);
    EXPECT_FALSE(process_gone(stub));
    ::kill(daemon, SIGKILL);
    ::waitpid(daemon, nullptr, 0);
    // The orphaned stub is reaped by init (or a subreaper): gone, or at worst a zombie.
    bool dead = false;
    for (int i = 0; i < 200 && !dead; i++) {
        std::string stat = read_file("/proc/" + std::to_string(stub) + "/stat");
        dead = stat.empty() || stat.find(") Z ") != std::string::npos;
        if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(dead) << "stub " << stub << " outlived its daemon";
}

TEST(ProcessPlatformLifetime, StubDiesWithItsDaemonBeforeGo) {
    expect_stub_dies_with_daemon(false);
}

TEST(ProcessPlatformLifetime, StubDiesWithItsDaemonWhileRunning) {
    expect_stub_dies_with_daemon(true);
}

// ---- failures -----------------------------------------------------------------------

TEST(ProcessPlatformErrors, MissingStubBinaryIsNamed) {
    GuestRam ram;
    ProcessPlatform platform("/nonexistent/xenolith-stub");
    try {
        platform.create_vm(config_for(ram));
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/xenolith-stub"), std::string::npos)
            << e.what();
    }
}

TEST(ProcessPlatformErrors, StubSetupFailureIsReported) {
    GuestRam ram;
    VmConfig c = config_for(ram);
    UniqueFd ro(static_cast<int>(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)));
    c.ram.fd = ro.get();  // a read-only file cannot be mapped shared and writable
    ProcessPlatform platform;
    try {
        platform.create_vm(c);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("the stub could not map guest RAM"), std::string::npos)
            << e.what();
    }
}

TEST(ProcessPlatformErrors, TooLittleRamOrHvmIsRefused) {
    GuestRam ram(4096);
    ProcessPlatform platform;
    EXPECT_THROW(platform.create_vm(config_for(ram)), Error);
    GuestRam big;
    VmConfig c = config_for(big);
    c.hvm = true;
    EXPECT_THROW(platform.create_vm(c), Error);
    EXPECT_FALSE(platform.supports_hvm());
    EXPECT_STREQ(platform.name(), "process");
}

TEST(ProcessPlatformErrors, PvhBootIsRefused) {
    GuestRam ram;
    ProcessPlatform platform;
    auto vm = platform.create_vm(config_for(ram));
    auto vcpu = vm->create_vcpu(0);
    BootContext ctx;
    ctx.mode = BootContext::Mode::Pvh32;
    EXPECT_THROW(vcpu->boot(ctx), Error);
}

// ---- the rest of the seam -----------------------------------------------------------

TEST(ProcessPlatformDecode, OutEaxImm8) {
    const uint8_t out[] = {0xe7, 0x58}, other[] = {0xe6, 0x58};
    EXPECT_EQ(out_eax_imm8_port(out, 2), 0x58);
    EXPECT_EQ(out_eax_imm8_port(out, 1), std::nullopt);
    EXPECT_EQ(out_eax_imm8_port(other, 2), std::nullopt);
}

TEST(ProcessPlatformDecode, FsGsBaseInstructionsAreEmulated) {
    user_regs_struct r{};
    r.fs_base = 0x1234567890, r.gs_base = 0xabcdef0123, r.r9 = 0xfeedface00112233;
    const uint8_t rdfsbase_r9[] = {0xf3, 0x49, 0x0f, 0xae, 0xc1};
    auto insn = decode_fsgsbase(rdfsbase_r9, sizeof rdfsbase_r9);
    ASSERT_TRUE(insn);
    EXPECT_EQ(insn->length, 5u);
    emulate_fsgsbase(*insn, r);
    EXPECT_EQ(r.r9, 0x1234567890u);
    EXPECT_EQ(r.rip, 5u);
    const uint8_t wrgsbase_esi32[] = {0xf3, 0x0f, 0xae, 0xde};  // no REX.W: 32 bits
    r.rsi = 0xffffffff80001000;
    insn = decode_fsgsbase(wrgsbase_esi32, sizeof wrgsbase_esi32);
    ASSERT_TRUE(insn);
    emulate_fsgsbase(*insn, r);
    EXPECT_EQ(r.gs_base, 0x80001000u);
    EXPECT_EQ(r.rip, 9u);
    const uint8_t memory_operand[] = {0xf3, 0x48, 0x0f, 0xae, 0x00};  // fxsave-like: not ours
    EXPECT_FALSE(decode_fsgsbase(memory_operand, sizeof memory_operand));
    const uint8_t clflush_like[] = {0xf3, 0x48, 0x0f, 0xae, 0xf8};  // /7: not ours
    EXPECT_FALSE(decode_fsgsbase(clflush_like, sizeof clflush_like));
}

TEST(ProcessPlatformMisc, NotifyEndpointIsAnEventfd) {
    GuestRam ram;
    ProcessPlatform platform;
    auto vm = platform.create_vm(config_for(ram));
    auto ep = vm->notify_endpoint(3);
    uint64_t one = 1, got = 0;
    ASSERT_EQ(::write(ep->fd(), &one, sizeof one), 8);
    ASSERT_EQ(::read(ep->fd(), &got, sizeof got), 8);
    EXPECT_EQ(got, 1u);
    ep->detach();
    ep->detach();
}

TEST(ProcessPlatformMisc, TscRateIsPlausibleAndStable) {
    ProcessPlatform platform;
    uint32_t khz = platform.tsc_khz();
    EXPECT_GT(khz, 100'000u);     // 100 MHz
    EXPECT_LT(khz, 10'000'000u);  // 10 GHz
    EXPECT_EQ(platform.tsc_khz(), khz);
}

TEST(ProcessPlatformMisc, DefaultStubPathExists) {
    EXPECT_EQ(::access(default_stub_path().c_str(), X_OK), 0) << default_stub_path();
}

}  // namespace
}  // namespace xenolith::platform::process
