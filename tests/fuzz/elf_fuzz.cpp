// libFuzzer target for the kernel image parser: any byte string either parses or is rejected
// with xenolith::Error; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.hpp"
#include "boot/elf_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using xenolith::boot::ElfImage;
    try {
        const ElfImage image = ElfImage::parse(std::vector<uint8_t>(data, data + size), "fuzz");
        uint64_t checksum = image.elf_entry();
        for (const auto& segment : image.segments()) {
            for (uint8_t byte : image.segment_bytes(segment)) checksum += byte;
            // Look up addresses around each segment's edges and the notes' addresses.
            for (uint64_t address :
                 {segment.vaddr, segment.vaddr + segment.mem_size / 2,
                  segment.vaddr + segment.mem_size - 1, segment.vaddr + segment.mem_size}) {
                if (const auto symbol = image.symbolize(address))
                    checksum += symbol->name.size() + symbol->offset;
            }
        }
        const auto& notes = image.xen_notes();
        for (const auto& address : {notes.entry, notes.hypercall_page}) {
            if (address) (void)image.symbolize(*address);
        }
        checksum += notes.guest_os.size() + notes.loader.size() + notes.features.size();
        // The final bytes double as an address, so the fuzzer can steer lookups.
        if (size >= 8) {
            uint64_t address = 0;
            for (size_t i = 0; i < 8; ++i) address |= uint64_t{data[size - 8 + i]} << (8 * i);
            (void)image.symbolize(address);
        }
        volatile uint64_t sink = checksum;
        (void)sink;
    } catch (const xenolith::Error&) {
        // Rejected: the expected outcome for most inputs.
    }
    return 0;
}
