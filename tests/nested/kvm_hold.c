// kvm_hold: keeps two idle KVM VMs open until it is killed, so that the kernel's static keys
// that KVM switches on for the first VM (or vCPU) and off for the last are never switched
// again while the tests create and destroy VMs.
//
// Why: switching a static key rewrites kernel code (text_poke_bp: an int3 first, then the
// new instruction). In the nested test host with two CPUs, QEMU 7.2's TCG (single-threaded
// or MTTCG alike) sometimes keeps executing the int3 from a stale translation after the
// patch is complete: every CPU that reaches the site traps, the kernel's int3 handler sees
// the int3 gone ("removed by another CPU right after we hit it") and resumes at the same
// address, which traps again. L1 livelocks with every CPU in that loop and prints nothing.
// The site seen each time is the preempt-notifier branch in __schedule, which KVM switches
// with preempt_notifier_inc()/_dec() in kvm_create_vm()/kvm_destroy_vm().
//
// Held here, one reference each, so the tests' VMs never take them from 0 to 1 or back:
//   preempt_notifier_key      any open VM
//   kvm_has_noapic_vcpu       a vCPU of a VM without an in-kernel irqchip (PV domains)
//   apic_sw_disabled          a vCPU whose in-kernel LAPIC the guest never enabled (PVH)
//
// Built by tests/nested/run.sh with `gcc -static -O2`; started by L1's /init before the
// scenarios. Prints `kvm_hold: ready` once everything is open, or why not and exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char* what) {
    fprintf(stderr, "kvm_hold: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(void) {
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) return fail("/dev/kvm");

    // a PV-like VM: no in-kernel irqchip, one vCPU
    int plain = ioctl(kvm, KVM_CREATE_VM, 0);
    if (plain < 0) return fail("KVM_CREATE_VM");
    if (ioctl(plain, KVM_CREATE_VCPU, 0) < 0) return fail("KVM_CREATE_VCPU (no irqchip)");

    // a PVH-like VM: in-kernel irqchip, one vCPU whose LAPIC stays software-disabled
    int apic = ioctl(kvm, KVM_CREATE_VM, 0);
    if (apic < 0) return fail("KVM_CREATE_VM");
    if (ioctl(apic, KVM_CREATE_IRQCHIP, 0) < 0) return fail("KVM_CREATE_IRQCHIP");
    if (ioctl(apic, KVM_CREATE_VCPU, 0) < 0) return fail("KVM_CREATE_VCPU (irqchip)");

    printf("kvm_hold: ready\n");
    fflush(stdout);
    for (;;) pause();
}
