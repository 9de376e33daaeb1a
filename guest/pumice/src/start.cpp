// Boot: from the assembly entry to the app's main thread, in dependency order.
#include <pumice/cpu.hpp>
#include <pumice/pumice.hpp>

extern "C" int main();
extern "C" void (*__init_array_start[])();
extern "C" void (*__init_array_end[])();

namespace pumice {

Cpu g_cpus[kMaxCpus];

namespace {

start_info_t* g_start_info;
shared_info_t* g_shared_info;

// main() gets a roomier stack than other threads: apps are written like plain programs.
constexpr size_t kMainStackSize = 256 * 1024;

void run_constructors() {
    for (auto* ctor = __init_array_start; ctor != __init_array_end; ++ctor) (*ctor)();
}

void main_thread(void*) {
    exit(main());
}

}  // namespace

start_info_t& xen_start_info() {
    return *g_start_info;
}
shared_info_t& xen_shared_info() {
    return *g_shared_info;
}

}  // namespace pumice

using namespace pumice;

extern "C" [[noreturn]] void pumice_start(start_info_t* si) {
    g_start_info = si;
    // Auto-translated: start_info.shared_info is a guest-physical address, mapped at VA = PA.
    g_shared_info = reinterpret_cast<shared_info_t*>(si->shared_info);

    Cpu& cpu = g_cpus[0];
    cpu.self = &cpu;
    cpu.id = 0;
    cpu.vcpu = &g_shared_info->vcpu_info[0];
    cpu.vcpu->evtchn_upcall_mask = 1;  // no upcalls until the handlers exist
    set_this_cpu(cpu);

    // Free RAM starts after the builder's page tables (docs/guest-abi.md, "Memory").
    mem::init(si->pt_base + si->nr_pt_frames * mem::kPageSize, si->nr_pages * mem::kPageSize);
    run_constructors();  // after the allocator: constructors may allocate
    cmdline::init(reinterpret_cast<const char*>(si->cmd_line), sizeof(si->cmd_line));

    events::init_boot();
    smp::probe();
    sched::init_cpu();
    cpu.online = true;

    if (!thread_create("main", main_thread, nullptr, 0, kMainStackSize)) {
        panic("cannot create the main thread");
    }
    sched::idle_loop();
}
