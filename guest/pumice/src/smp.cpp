// Secondary vCPU bring-up (docs/guest-abi.md, "Secondary vCPUs").
#include <pumice/cpu.hpp>
#include <pumice/pumice.hpp>

extern "C" void pumice_secondary_entry();
extern "C" void pumice_upcall_entry();

namespace pumice::smp {
namespace {

constexpr size_t kBootStackPages = 8;
// RFLAGS a vCPU starts with: IOPL 3 (hypercall stubs use `out`) and IF, as on vCPU 0.
constexpr uint64_t kEntryRflags = 0x3202;

unsigned g_count = 1;
unsigned g_online = 1;
WaitQueue g_online_wait;

bool start(unsigned id) {
    Cpu& cpu = g_cpus[id];
    cpu.self = &cpu;
    cpu.id = id;
    cpu.vcpu = &xen_shared_info().vcpu_info[id];
    cpu.vcpu->evtchn_upcall_mask = 1;  // until its handlers exist

    void* stack = mem::alloc_pages(kBootStackPages);
    auto* ctx = static_cast<vcpu_guest_context_t*>(calloc(1, sizeof(vcpu_guest_context_t)));
    if (!stack || !ctx) {
        mem::free_pages(stack, kBootStackPages);
        free(ctx);
        return false;
    }
    ctx->flags = VGCF_in_kernel | VGCF_online;
    ctx->user_regs.rip = reinterpret_cast<uint64_t>(&pumice_secondary_entry);
    ctx->user_regs.rsp = reinterpret_cast<uint64_t>(stack) + kBootStackPages * mem::kPageSize;
    ctx->user_regs.rdi = reinterpret_cast<uint64_t>(&cpu);  // entry also loads GS from it
    ctx->user_regs.rflags = kEntryRflags;
    ctx->gs_base_kernel = reinterpret_cast<uint64_t>(&cpu);
    ctx->event_callback_eip = reinterpret_cast<uint64_t>(&pumice_upcall_entry);
    ctx->ctrlreg[3] = 0;  // the boot page tables

    long rc = hv::vcpu_op(VCPUOP_initialise, id, ctx);
    free(ctx);
    if (rc == 0) rc = hv::vcpu_op(VCPUOP_up, id, nullptr);
    if (rc < 0) {
        printf("pumice: vCPU %u failed to start: %ld\n", id, rc);
        mem::free_pages(stack, kBootStackPages);
        return false;
    }
    return true;
}

}  // namespace

void probe() {
    unsigned n = 0;
    // Every vCPU the domain has answers is_up (0 or 1); the first missing one, -ENOENT.
    while (n < kMaxCpus && hv::vcpu_op(VCPUOP_is_up, n, nullptr) >= 0) ++n;
    g_count = n ? n : 1;
}

unsigned count() {
    return g_count;
}
unsigned online() {
    return __atomic_load_n(&g_online, __ATOMIC_ACQUIRE);
}
unsigned current_id() {
    return this_cpu().id;
}

unsigned start_all() {
    unsigned expected = online();
    for (unsigned id = 1; id < g_count; ++id) {
        if (!g_cpus[id].online && start(id)) ++expected;
    }
    g_online_wait.wait_until([expected] { return online() >= expected; });
    return online();
}

}  // namespace pumice::smp

using namespace pumice;

extern "C" [[noreturn]] void pumice_secondary_start() {
    Cpu& cpu = this_cpu();
    events::init_cpu();
    sched::init_cpu();
    cpu.online = true;
    smp::g_online_wait.notify_all([] { __atomic_fetch_add(&smp::g_online, 1, __ATOMIC_RELEASE); });
    sched::idle_loop();
}
