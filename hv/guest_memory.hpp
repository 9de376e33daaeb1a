// A domain's RAM: one memfd, mapped shared in the daemon, so that backends, save/restore
// and migration can share the same pages. Guest-physical address 0 is the memfd's offset 0.
//
// Every accessor checks the guest-physical range first: addresses come from guests.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "hv/page_log.hpp"

namespace xenolith::hv {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

class GuestMemory {
  public:
    // Allocates `size` bytes (a multiple of the page size); throws Error on failure.
    GuestMemory(const std::string& name, uint64_t size);

    uint64_t size() const { return size_; }
    uint64_t nr_pages() const { return size_ >> kPageShift; }
    int fd() const { return fd_.get(); }
    uint8_t* base() const { return map_.data(); }

    // Live migration: the pages written through this mapping (see PageLog). Whoever
    // writes RAM on the guest's behalf outside a grant mapping (which marks as it goes)
    // marks what it wrote; const because readers' views may write too (GuestAccess).
    void mark_written(uint64_t gpa, uint64_t len) const {
        if (len == 0 || !contains(gpa, len)) return;
        written_.mark(gpa >> kPageShift, ((gpa + len - 1) >> kPageShift) - (gpa >> kPageShift) + 1);
    }
    PageLog& written() const { return written_; }

    bool contains(uint64_t gpa, uint64_t len) const { return gpa <= size_ && len <= size_ - gpa; }
    // Host view of [gpa, gpa+len), or an empty span when the range is not all RAM.
    std::span<uint8_t> span(uint64_t gpa, uint64_t len) const {
        if (!contains(gpa, len)) return {};
        return {map_.data() + gpa, static_cast<size_t>(len)};
    }
    // A typed pointer into RAM, or nullptr when the object would not lie wholly in RAM or
    // is misaligned. Use for shared structures (shared_info, vcpu_info) the guest also writes.
    template <typename T>
    T* object(uint64_t gpa) const {
        if (!contains(gpa, sizeof(T)) || gpa % alignof(T) != 0) return nullptr;
        return reinterpret_cast<T*>(map_.data() + gpa);
    }
    template <typename T>
    std::optional<T> read(uint64_t gpa) const {
        static_assert(std::is_trivially_copyable_v<T>);
        if (!contains(gpa, sizeof(T))) return std::nullopt;
        T value;
        std::memcpy(&value, map_.data() + gpa, sizeof(T));
        return value;
    }
    template <typename T>
    bool write(uint64_t gpa, const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (!contains(gpa, sizeof(T))) return false;
        std::memcpy(map_.data() + gpa, &value, sizeof(T));
        mark_written(gpa, sizeof(T));
        return true;
    }

  private:
    uint64_t size_;
    UniqueFd fd_;
    Mapping map_;
    mutable PageLog written_;
};

}  // namespace xenolith::hv
