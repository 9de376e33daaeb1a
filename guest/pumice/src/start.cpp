// Boot: from the assembly entry to the app's main thread, in dependency order.
#include <pumice/cpu.hpp>
#include <pumice/pumice.hpp>
#include <pumice/xenstore.hpp>

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

// Hands free RAM (docs/guest-abi.md, "Memory": after the builder's page tables) to the page
// allocator, minus the pages shared with backends (console and xenstore rings) should the
// builder have placed any there: those must never be handed out.
void init_memory(const start_info_t& si) {
    constexpr uintptr_t kPage = mem::kPageSize;
    uintptr_t start = si.pt_base + si.nr_pt_frames * kPage;
    uintptr_t end = si.nr_pages * kPage;
    uintptr_t shared[2] = {static_cast<uintptr_t>(si.store_mfn) * kPage, 0};
    if (!(si.flags & SIF_INITDOMAIN)) shared[1] = static_cast<uintptr_t>(si.console.domU.mfn) * kPage;
    if (shared[0] > shared[1]) {
        uintptr_t t = shared[0];
        shared[0] = shared[1];
        shared[1] = t;
    }
    bool first = true;
    auto give = [&first](uintptr_t from, uintptr_t to) {
        if (from >= to) return;
        if (first)
            mem::init(from, to);
        else
            mem::free_pages(reinterpret_cast<void*>(from), (to - from) / kPage);
        first = false;
    };
    uintptr_t cursor = start;
    for (uintptr_t page : shared) {
        if (!page || page < cursor || page >= end) continue;  // none, or not in free RAM
        give(cursor, page);
        cursor = page + kPage;
    }
    give(cursor, end);
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

    init_memory(*si);
    run_constructors();  // after the allocator: constructors may allocate
    cmdline::init(reinterpret_cast<const char*>(si->cmd_line), sizeof(si->cmd_line));

    events::init_boot();
    smp::probe();
    sched::init_cpu();
    // Output went through console_io so far; from here on through the ring, if there is one.
    console::init();
    cpu.online = true;

    if (!thread_create("main", main_thread, nullptr, 0, kMainStackSize)) {
        panic("cannot create the main thread");
    }
    // The store ring, if the builder gave us one: its threads, and the control/shutdown watch.
    xenstore::init();
    sched::idle_loop();
}
