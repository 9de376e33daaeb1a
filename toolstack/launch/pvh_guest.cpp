#include "toolstack/launch/pvh_guest.hpp"

#include "abi/xen.hpp"

#include <string>

#include "abi/xenolith.h"

#include "base/error.hpp"
#include "boot/image_bytes.hpp"
#include "boot/pvh_builder.hpp"
#include "boot/ring_offer.hpp"

namespace xenolith::launch {

namespace {

// Linux since XSA-466 makes every hypercall from one function with `vmmcall` (AMD) or
// `vmcall` (Intel). Where KVM offers no KVM_CAP_XEN_HVM (Debian's kernels) it answers those
// itself (-KVM_ENOSYS) and user space never sees them; hardware breakpoints on them do not
// fire on the nested TCG host either. So the copy in guest RAM (never the kernel file) gets
// what a hypercall-page stub does instead: `out %eax, $XENOLITH_HYPERCALL_PORT; nop`, three
// bytes for three. EAX already holds the hypercall number; the result comes back in RAX and
// the guest returns from the function as before. Kernels that use a hypercall page ask for
// one through the Xen MSR and need nothing here.
void route_hypercalls(hv::Domain& domain, const PvhGuestImage& image) {
    for (const boot::HypercallSite& site : image.kernel.hypercall_sites()) {
        auto code = domain.memory().span(site.paddr, 3);
        const uint8_t last = site.kind == boot::HypercallSite::Kind::kVmmcall ? 0xd9 : 0xc1;
        if (code.empty() || code[0] != 0x0f || code[1] != 0x01 || code[2] != last)
            throw Error(std::string(image.kernel_name) + ": the " +
                        boot::hypercall_kind_name(site.kind) + " at " + boot::hex(site.paddr) +
                        " is not in guest RAM as loaded");
        code[0] = 0xe7;  // out %eax, $imm8
        code[1] = XENOLITH_HYPERCALL_PORT;
        code[2] = 0x90;  // nop
    }
}

}  // namespace

PvGuest setup_pvh_guest(hv::Hypervisor& hv, hv::Domain& domain, const PvhGuestImage& image,
                        backends::ConsoleBackend::Sink sink, StoreService* store) {
    if (!domain.is_pvh()) throw Error("domain " + domain.name() + " is not a PVH domain");
    const boot::ElfImage& elf = image.kernel.elf();
    boot::PvhLayoutRequest req;
    req.memory_bytes = domain.memory_bytes();
    req.segments = elf.segments();
    req.entry = image.kernel.entry();
    if (image.has_initramfs) req.initramfs_size = image.initramfs.size();
    req.cmdline = image.cmdline;
    req.kernel_name = image.kernel_name;
    req.initramfs_name = image.initramfs_name;
    req.nr_vcpus = domain.nr_vcpus();
    const boot::PvhLayout layout = boot::layout_pvh_domain(req);
    boot::write_pvh_domain(domain.memory().span(0, layout.low_ram_end), layout, elf,
                           image.initramfs);
    domain.set_acpi_ports(req.sleep_control_port, req.reset_port, req.reset_value);
    std::vector<hv::Domain::MemoryMapEntry> map;
    for (const auto& e : layout.memmap) map.push_back({e.addr, e.size, e.type});
    domain.set_memory_map(std::move(map));

    route_hypercalls(domain, image);

    // Grant frame 0 starts on a reserved page so that the reserved console and xenstore
    // entries can be seeded, as Xen's toolstack does for an HVM guest; the guest's own
    // XENMAPSPACE_grant_table mapping later moves the frame (and its entries) into its RAM.
    if (domain.grant_table().place_frame(0, layout.grant_seed_paddr >> hv::kPageShift) < 0)
        throw Error(std::string(image.kernel_name) +
                    ": the grant seed frame does not fit in guest RAM");
    PvGuest guest;
    boot::PvLayout& l = guest.layout;
    l.entry = image.kernel.entry();
    l.console_ring = layout.console_paddr;
    l.store_ring = layout.store_paddr;
    l.grant_frames = layout.grant_seed_paddr;
    const std::string name(image.kernel_name);
    l.console_port = boot::offer_ring(domain, l.grant_frames, l.console_ring,
                                      GNTTAB_RESERVED_CONSOLE, name, "console");
    domain.set_hvm_param(HVM_PARAM_CONSOLE_PFN, l.console_ring >> hv::kPageShift);
    domain.set_hvm_param(HVM_PARAM_CONSOLE_EVTCHN, l.console_port);
    l.store_port = boot::offer_ring(domain, l.grant_frames, l.store_ring, GNTTAB_RESERVED_XENSTORE,
                                    name, "xenstore");
    domain.set_hvm_param(HVM_PARAM_STORE_PFN, l.store_ring >> hv::kPageShift);
    domain.set_hvm_param(HVM_PARAM_STORE_EVTCHN, l.store_port);

    domain.set_boot_context(layout.boot);
    domain.set_console(sink);
    auto shared = hv.find(domain.id());
    if (!shared) throw Error("domain " + std::to_string(domain.id()) + " is not registered");
    guest.console =
        std::make_unique<backends::ConsoleBackend>(shared, l.console_port, std::move(sink));
    if (store) {
        guest.store = StoreEntry(store, domain.id());
        store->add_domain(domain, l);
        guest.devices = std::make_unique<DeviceSet>(store->backends(), store->backend_log());
    } else {
        // No xenstore: the guest reads a zero pfn and gives up at once.
        domain.set_hvm_param(HVM_PARAM_STORE_PFN, 0);
        domain.set_hvm_param(HVM_PARAM_STORE_EVTCHN, 0);
        domain.evtchn().close(l.store_port);
        l.store_port = 0;
    }
    return guest;
}

}  // namespace xenolith::launch
