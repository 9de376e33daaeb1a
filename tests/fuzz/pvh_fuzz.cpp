// libFuzzer target for PVH kernel images: a bzImage's setup header, its compressed payload
// (gzip, xz, zstd) and the vmlinux ELF inside, or a plain ELF with the PVH note. Any byte
// string either loads or is rejected with xenolith::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.hpp"
#include "boot/pvh_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto kernel = xenolith::boot::PvhKernel::parse(std::vector<uint8_t>(data, data + size), "fuzz");
        volatile uint64_t sink = kernel.entry() + kernel.elf().segments().size();
        (void)sink;
    } catch (const xenolith::Error&) {
        // Rejected with a message: the expected outcome for most inputs.
    }
    return 0;
}
