// RAII ownership of an mmap()ed region.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace xenolith {

class Mapping {
public:
    Mapping() = default;
    // Maps `size` bytes of `fd` at `offset`; throws SystemError on failure.
    static Mapping map(int fd, size_t size, int prot, int flags, off_t offset = 0);
    Mapping(Mapping&& other) noexcept
        : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    Mapping& operator=(Mapping&& other) noexcept {
        if (this != &other) {
            reset();
            addr_ = std::exchange(other.addr_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { reset(); }

    uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
    size_t size() const { return size_; }
    explicit operator bool() const { return addr_ != nullptr; }
    void reset() {
        if (addr_) ::munmap(addr_, size_);
        addr_ = nullptr;
        size_ = 0;
    }

private:
    Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
    void* addr_ = nullptr;
    size_t size_ = 0;
};

}  // namespace xenolith
