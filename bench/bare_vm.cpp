#include "bench/bare_vm.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "boot/pv_builder.hpp"
#include "hv/guest_memory.hpp"
#include "hv/vcpu.hpp"
#include "platform/kvm/kvm_vcpu.hpp"

namespace xenolith::bench {

namespace {

using hv::kPageSize;

// Where the program, TSS, result and page tables go: the first MiB stays free, as for the
// PV builder, so the code page is at the same kind of address as a PV image.
constexpr uint64_t kCode = 1ull << 20;
constexpr uint64_t kTss = kCode + kPageSize;
constexpr uint64_t kResult = kTss + kPageSize;
constexpr uint64_t kStackTop = kResult + 2 * kPageSize;  // one page of stack, unused
constexpr uint64_t kPageTables = kStackTop;

static_assert(XENOLITH_HYPERCALL_PORT == 0x58, "the program below encodes the port as 0x58");

// `as` output for the program in bare_vm.hpp (64-bit, position independent).
constexpr uint8_t kProgram[] = {
    0x0f, 0x31,              // rdtsc
    0x48, 0xc1, 0xe2, 0x20,  // shl $32, %rdx
    0x48, 0x09, 0xc2,        // or %rax, %rdx
    0x49, 0x89, 0xd0,        // mov %rdx, %r8
    // loop:
    0xb8, 0x11, 0x00, 0x00, 0x00,  // mov $17 (__HYPERVISOR_xen_version), %eax
    0xe7, 0x58,                    // out %eax, $0x58
    0x48, 0xff, 0xc9,              // dec %rcx
    0x75, 0xf4,                    // jnz loop
    0x0f, 0x31,                    // rdtsc
    0x48, 0xc1, 0xe2, 0x20,        // shl $32, %rdx
    0x48, 0x09, 0xc2,              // or %rax, %rdx
    0x4c, 0x29, 0xc2,              // sub %r8, %rdx
    0x48, 0x89, 0x17,              // mov %rdx, (%rdi)
    0xb8, 0xff, 0xff, 0xff, 0xff,  // mov $0xffffffff, %eax
    0xe7, 0x58,                    // out %eax, $0x58
    0x0f, 0x0b,                    // ud2 (not reached)
};

static_assert(kFloorEventPort == 0x59, "the event program below encodes its port as 0x59");

// `as` output for the event-loop program in bare_vm.hpp.
constexpr uint8_t kEventProgram[] = {
    0x0f, 0x31,              // rdtsc
    0x48, 0xc1, 0xe2, 0x20,  // shl $32, %rdx
    0x48, 0x09, 0xc2,        // or %rax, %rdx
    0x49, 0x89, 0xd0,        // mov %rdx, %r8
    0x31, 0xf6,              // xor %esi, %esi
    // round:
    0x48, 0xff, 0xc6,  // inc %rsi
    0x89, 0xf0,        // mov %esi, %eax
    0xe7, 0x59,        // out %eax, $0x59 (ioeventfd: no exit)
    // wait:
    0xf3, 0x90,                    // pause
    0x48, 0x3b, 0x77, 0x08,        // cmp 8(%rdi), %rsi
    0x75, 0xf8,                    // jne wait
    0x48, 0x39, 0xce,              // cmp %rcx, %rsi
    0x75, 0xec,                    // jne round
    0x0f, 0x31,                    // rdtsc
    0x48, 0xc1, 0xe2, 0x20,        // shl $32, %rdx
    0x48, 0x09, 0xc2,              // or %rax, %rdx
    0x4c, 0x29, 0xc2,              // sub %r8, %rdx
    0x48, 0x89, 0x17,              // mov %rdx, (%rdi)
    0xb8, 0xff, 0xff, 0xff, 0xff,  // mov $0xffffffff, %eax
    0xe7, 0x58,                    // out %eax, $0x58
    0x0f, 0x0b,                    // ud2 (not reached)
};

}  // namespace

BareVm::BareVm(const kvm::System& kvm, uint64_t memory_bytes, uint64_t exits, Program program) {
    if (exits == 0) throw Error("BareVm: the program needs at least one exit");
    // Same order as hv::Domain: the VM first, then its RAM, then the vCPU.
    vm_.emplace(kvm.create_vm());
    memfd_.reset(static_cast<int>(
        check_syscall(::memfd_create("xenolith-bench-floor", MFD_CLOEXEC), "memfd_create")));
    check_syscall(::ftruncate(memfd_.get(), static_cast<off_t>(memory_bytes)), "ftruncate");
    ram_ = Mapping::map(memfd_.get(), memory_bytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_NORESERVE);
    vm_->set_memory_region(0, 0, ram_.data(), memory_bytes);
    vcpu_.emplace(vm_->create_vcpu(0));

    uint8_t* ram = ram_.data();
    if (program == Program::kEventLoop)
        std::memcpy(ram + kCode, kEventProgram, sizeof kEventProgram);
    else
        std::memcpy(ram + kCode, kProgram, sizeof kProgram);
    boot::write_io_tss({ram + kTss, kPageSize});
    uint64_t pt_bytes = uint64_t{boot::page_table_frames(memory_bytes)} * kPageSize;
    if (kPageTables + pt_bytes > memory_bytes) throw Error("BareVm: memory too small");
    boot::write_page_tables({ram + kPageTables, pt_bytes}, kPageTables, memory_bytes);

    platform::BootContext ctx;
    ctx.cr3 = kPageTables;
    ctx.tss_base = kTss;
    vcpu_->set_sregs(kvm::pv_sregs(vcpu_->get_sregs(), ctx));
    kvm_regs& r = vcpu_->regs();
    r = kvm_regs{};
    r.rip = kCode;
    r.rsp = kStackTop;
    r.rflags = 0x3202;  // IOPL 3, IF
    r.rcx = exits;
    r.rdi = kResult;
    vcpu_->mark_regs_dirty();
}

uint32_t BareVm::run_to_port_exit() {
    for (;;) {
        if (!vcpu_->run()) continue;  // EINTR: nobody kicks this vCPU, but be correct
        const kvm_run* run = vcpu_->run_area();
        if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
            run->io.port == XENOLITH_HYPERCALL_PORT && run->io.size == 4 && run->io.count == 1) {
            uint32_t value;
            std::memcpy(&value, reinterpret_cast<const uint8_t*>(run) + run->io.data_offset,
                        sizeof value);
            return value;
        }
        if (run->exit_reason == KVM_EXIT_INTR) continue;
        throw Error("floor VM: unexpected KVM exit reason " + std::to_string(run->exit_reason) +
                    " at RIP 0x" + [&] {
                        char buf[24];
                        std::snprintf(buf, sizeof buf, "%llx",
                                      static_cast<unsigned long long>(vcpu_->regs().rip));
                        return std::string(buf);
                    }());
    }
}

uint64_t* BareVm::answer_slot() {
    return reinterpret_cast<uint64_t*>(ram_.data() + kResult + 8);
}

uint64_t BareVm::loop_ticks() const {
    uint64_t ticks;
    std::memcpy(&ticks, ram_.data() + kResult, sizeof ticks);
    return ticks;
}

}  // namespace xenolith::bench
