// A domain built from a minimal synthetic PV image and never started: shared by the
// hypercall unit tests and the hypercall fuzzer, which call handlers on it directly.
#pragma once

#include <memory>
#include <string>

#include "abi/xen.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "hv/domain.hpp"
#include "hv/hypervisor.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::testing {

struct TestDomain {
    std::shared_ptr<hv::Domain> domain;
    boot::PvBootPlan plan;
};

inline TestDomain make_test_domain(hv::Hypervisor& hv, const std::string& name, uint64_t memory,
                                   uint32_t vcpus,
                                   uint32_t max_evtchn = hv::kDefaultMaxEventChannels) {
    hv::DomainParams p;
    p.name = name;
    p.memory_bytes = memory;
    p.vcpus = vcpus;
    p.max_event_channels = max_evtchn;
    TestDomain t;
    t.domain = hv.create_domain(p);
    boot::testing::ElfBuilder b;
    b.load(0x100000, std::vector<uint8_t>(0x2000, 0x90), 0x2000, PF_R | PF_X | PF_W);
    // Spelled out: GCC 12 misreports a stringop-overflow in xen_string()'s inlined copy.
    b.xen_note(XEN_ELFNOTE_LOADER, {'g', 'e', 'n', 'e', 'r', 'i', 'c', 0});
    b.xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x101000);
    t.plan = boot::load_pv_image(t.domain->memory(), boot::ElfImage::parse(b.build(), name), "");
    t.domain->set_shared_info(t.plan.layout.shared_info);
    t.domain->grant_table().place_boot_frames(t.plan.layout.grant_frames, hv::kDefaultGrantFrames);
    return t;
}

}  // namespace xenolith::testing
