// The hypercall page: 128 stubs of 32 bytes, stub N making hypercall N. Xen fills it with
// `vmcall`/`syscall` sequences; here every stub is `mov $N, %eax; out %eax, $port; ret`,
// so that a hypercall is a port-I/O exit to the hypervisor on every KVM (PVM, VT-x, AMD-V)
// whether or not the host can route `vmcall` to user space. The PV builder writes it where
// the kernel's XEN_ELFNOTE_HYPERCALL_PAGE says; a PVH guest asks for it by writing the
// page's address to the Xen MSR (CPUID 0x40000002 EBX).
#pragma once

#include <cstdint>
#include <span>

namespace xenolith::hv {

void write_hypercall_page(std::span<uint8_t> page);

}  // namespace xenolith::hv
