// copy_from_guest / copy_to_guest: hypercall arguments are guest-virtual addresses, so they
// are translated through the guest's own page tables (the vCPU's CR3), checking at every
// level that the entry is present, user-accessible and inside RAM. A PV guest at CPL 3
// cannot load CR3 itself, so the CR3 the hypervisor gave the vCPU is the one in force.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "hv/guest_memory.hpp"

namespace xenolith::hv {

class GuestAccess {
public:
    // How addresses translate. PvUser: a PV guest's lower-half user mappings (above).
    // Kernel64: a PVH guest in long mode; both canonical halves, supervisor pages too (its
    // kernel makes hypercalls from CPL 0 with kernel addresses). Physical: a PVH guest with
    // paging off; addresses are guest-physical. Unsupported: a paging mode not walked here
    // (32-bit paging); nothing translates.
    enum class Mode { PvUser, Kernel64, Physical, Unsupported };

    GuestAccess(const GuestMemory& memory, uint64_t cr3, Mode mode = Mode::PvUser)
        : memory_(memory), cr3_(cr3), mode_(mode) {}

    // The same translation through other page tables (another process's CR3 in the guest).
    GuestAccess with_cr3(uint64_t cr3) const { return GuestAccess(memory_, cr3, mode_); }

    // Guest-physical address of `va`, or nullopt when unmapped (or `write` to read-only).
    std::optional<uint64_t> translate(uint64_t va, bool write) const;

    bool copy_from(std::span<uint8_t> dst, uint64_t va) const;
    bool copy_to(uint64_t va, std::span<const uint8_t> src) const;

    template <typename T>
    std::optional<T> read(uint64_t va) const {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        if (!copy_from({reinterpret_cast<uint8_t*>(&value), sizeof(T)}, va)) return std::nullopt;
        return value;
    }
    template <typename T>
    bool write(uint64_t va, const T& value) const {
        static_assert(std::is_trivially_copyable_v<T>);
        return copy_to(va, {reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
    }

private:
    const GuestMemory& memory_;
    uint64_t cr3_;
    Mode mode_;
};

}  // namespace xenolith::hv
