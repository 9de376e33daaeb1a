#include "boot/pvh_image.hpp"
#include "boot/image_bytes.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "boot/bzimage.hpp"

namespace xenolith::boot {

namespace {

bool is_elf(std::span<const uint8_t> bytes) {
    return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

}  // namespace

PvhKernel PvhKernel::load(const std::string& path) {
    return parse(read_image_file(path, ElfImage::kMaxFileSize), path);
}

PvhKernel PvhKernel::parse(std::vector<uint8_t> bytes, const std::string& name) {
    if (is_elf(bytes))
        return from_elf(ElfImage::parse(std::move(bytes), name), name, Format::kElf,
                        Compression::kUnknown);
    if (!is_bzimage(bytes))
        throw Error(name + ": not a kernel image (neither an ELF file nor a Linux bzImage)");

    const BzImagePayload payload = bzimage_payload(bytes, name);
    const Compression compression = detect_compression(payload.bytes);
    std::vector<uint8_t> vmlinux = decompress_kernel_payload(payload.bytes, name);
    bytes = {};  // the compressed file is no longer needed; free it before parsing
    const std::string inner = name + " (its " + compression_name(compression) + " payload)";
    if (!is_elf(vmlinux)) throw Error(inner + ": the decompressed kernel is not an ELF file");
    return from_elf(ElfImage::parse(std::move(vmlinux), inner), name, Format::kBzImage,
                    compression);
}

PvhKernel PvhKernel::from_elf(ElfImage elf, const std::string& name, Format format,
                              Compression compression) {
    const auto entry = elf.xen_notes().phys32_entry;
    if (!entry)
        throw Error(name +
                    ": no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): this kernel cannot "
                    "boot as a PVH guest");
    // The guest starts in 32-bit protected mode without paging: EIP is the entry itself.
    if (*entry > UINT32_MAX)
        throw Error(name + ": PVH entry " + hex(*entry) +
                    " lies above 4 GiB, out of reach of the 32-bit entry");
    return PvhKernel(std::move(elf), format, compression, static_cast<uint32_t>(*entry));
}

}  // namespace xenolith::boot
