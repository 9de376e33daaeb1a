#include "boot/bzimage.hpp"
#include "boot/image_bytes.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/error.hpp"

namespace xenolith::boot {

namespace {

// Setup header offsets, from the x86 boot protocol.
constexpr uint64_t kSetupSects = 0x1f1;     // u8: 512-byte sectors of real-mode setup code
constexpr uint64_t kBootFlag = 0x1fe;       // u16: 0xaa55
constexpr uint64_t kHeaderMagic = 0x202;    // "HdrS"
constexpr uint64_t kVersion = 0x206;        // u16: protocol version
constexpr uint64_t kPayloadOffset = 0x248;  // u32: from the protected-mode code's start
constexpr uint64_t kPayloadLength = 0x24c;  // u32
constexpr uint64_t kHeaderEnd = 0x250;      // the fields above all lie before here
constexpr uint16_t kBootFlagValue = 0xaa55;
constexpr char kMagic[] = {'H', 'd', 'r', 'S'};
constexpr uint64_t kSectorSize = 512;
// "If this field is 0, the real value is 4" (boot.rst, setup_sects).
constexpr uint8_t kDefaultSetupSects = 4;


std::string version_text(uint16_t version) {  // "2.08", as boot.rst writes versions
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%02u", unsigned{version} >> 8, version & 0xffu);
    return buf;
}

}  // namespace

bool is_bzimage(std::span<const uint8_t> file) {
    return file.size() >= kHeaderMagic + sizeof kMagic &&
           std::memcmp(file.data() + kHeaderMagic, kMagic, sizeof kMagic) == 0;
}

BzImagePayload bzimage_payload(std::span<const uint8_t> file, const std::string& name) {
    auto fail = [&](const std::string& what) { throw Error(name + ": " + what); };
    if (!is_bzimage(file))
        fail("not a Linux bzImage (no \"HdrS\" boot protocol signature at offset 0x202)");
    if (file.size() < kHeaderEnd)
        fail("file is " + std::to_string(file.size()) + " bytes, too short for a bzImage setup " +
             "header (" + std::to_string(kHeaderEnd) + " bytes)");
    if (read_le<uint16_t>(file, kBootFlag) != kBootFlagValue)
        fail("bzImage boot flag at 0x1fe is " + hex(read_le<uint16_t>(file, kBootFlag)) +
             ", not 0xaa55");
    const auto version = read_le<uint16_t>(file, kVersion);
    if (version < kMinBootProtocol)
        fail("boot protocol " + version_text(version) + " is older than " +
             version_text(kMinBootProtocol) + ", the first to say where the kernel payload is");

    uint8_t sects = file[kSetupSects];
    if (sects == 0) sects = kDefaultSetupSects;
    const uint64_t kernel_start = (uint64_t{sects} + 1) * kSectorSize;  // boot sector + setup
    // All the values below are at most 32 bits wide, so these sums cannot wrap.
    const uint64_t offset = kernel_start + read_le<uint32_t>(file, kPayloadOffset);
    const uint64_t length = read_le<uint32_t>(file, kPayloadLength);
    if (length == 0) fail("the bzImage header says the kernel payload is empty");
    if (offset >= file.size())
        fail("payload offset " + hex(offset) + " lies beyond the end of the " +
             std::to_string(file.size()) + "-byte file");
    if (length > file.size() - offset)
        fail("truncated payload: header says " + std::to_string(length) + " bytes, file has " +
             std::to_string(file.size() - offset));
    return {.protocol = version, .offset = offset, .bytes = file.subspan(offset, length)};
}

}  // namespace xenolith::boot
