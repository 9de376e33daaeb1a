#include "platform/kvm/system.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"
#include "platform/kvm/vm.hpp"

namespace xenolith::kvm {

System::System(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw SystemError("cannot open " + path, err);
    }
    fd_.reset(fd);
    int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        throw Error(path + ": KVM API version " + std::to_string(version) + ", need " +
                    std::to_string(KVM_API_VERSION));
    vcpu_mmap_size_ = static_cast<size_t>(
        check_syscall(::ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE"));
}

int System::check_extension(long cap) const {
    int rc = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return rc < 0 ? 0 : rc;
}

Vm System::create_vm() const {
    int fd = static_cast<int>(check_syscall(::ioctl(fd_.get(), KVM_CREATE_VM, 0), "KVM_CREATE_VM"));
    return Vm(UniqueFd(fd), vcpu_mmap_size_);
}

const std::vector<kvm_cpuid_entry2>& System::supported_cpuid() const {
    std::call_once(cpuid_once_, [this] { cpuid_ = query_supported_cpuid(); });
    return cpuid_;
}

std::vector<kvm_cpuid_entry2> System::query_supported_cpuid() const {
    // The ioctl says E2BIG until the buffer is big enough; KVM has no more than a few
    // hundred entries.
    for (size_t n = 64; n <= 4096; n *= 2) {
        std::vector<uint8_t> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
        auto* c = reinterpret_cast<CpuidHeader*>(buf.data());
        c->nent = static_cast<uint32_t>(n);
        if (::ioctl(fd_.get(), kGetSupportedCpuid, c) == 0) {
            std::vector<kvm_cpuid_entry2> entries(c->nent);
            std::memcpy(entries.data(), buf.data() + sizeof(CpuidHeader),
                        entries.size() * sizeof(kvm_cpuid_entry2));
            return entries;
        }
        if (errno != E2BIG) throw SystemError("KVM_GET_SUPPORTED_CPUID", errno);
    }
    throw Error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

}  // namespace xenolith::kvm
