#include "hv/hypercall_page.hpp"

#include <algorithm>
#include <cstring>

#include "abi/xenolith.h"
#include "hv/guest_memory.hpp"

namespace xenolith::hv {

void write_hypercall_page(std::span<uint8_t> page) {
    std::fill(page.begin(), page.end(), 0xcc);  // int3: a jump between stubs faults loudly
    for (uint32_t nr = 0; nr < page.size() / XENOLITH_HYPERCALL_STUB_SIZE; ++nr) {
        uint8_t* stub = page.data() + nr * XENOLITH_HYPERCALL_STUB_SIZE;
        stub[0] = 0xb8;  // mov $nr, %eax
        std::memcpy(stub + 1, &nr, 4);
        stub[5] = 0xe7;  // out %eax, $port
        stub[6] = XENOLITH_HYPERCALL_PORT;
        stub[7] = 0xc3;  // ret
    }
}

}  // namespace xenolith::hv
