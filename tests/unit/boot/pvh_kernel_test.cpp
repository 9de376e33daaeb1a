// PvhKernel accepts an ELF with a PVH entry note, directly or as the compressed payload of a
// Linux bzImage, and refuses everything else with one sentence naming the file. The
// bzImages are built here: a fake setup header and a payload compressed with the same
// libraries the loader uses.
#include "boot/pvh_image.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "abi/xen.hpp"
#include "base/error.hpp"
#include "boot/bzimage.hpp"
#include "boot/image_bytes.hpp"
#include "boot/kernel_payload.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::boot {
namespace {

using testing::ElfBuilder;
using ::testing::HasSubstr;

constexpr uint32_t kEntry = 0x1000040;

// A vmlinux-like ELF: code at 16 MiB (where Linux links itself) with the PVH entry note.
ElfBuilder pvh_elf(bool with_note = true) {
    ElfBuilder b;
    b.entry = 0xffffffff81000000;
    ElfBuilder::Segment text{
        PT_LOAD, PF_R | PF_X, 0xffffffff81000000, 0x1000000, std::vector<uint8_t>(0x3000, 0xcc),
        0x8000};
    b.segments.push_back(text);
    b.xen_string(XEN_ELFNOTE_GUEST_OS, "linux");
    if (with_note) b.xen_u32(XEN_ELFNOTE_PHYS32_ENTRY, kEntry);
    return b;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& in) {
    z_stream zs{};
    if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2");
    std::vector<uint8_t> out(deflateBound(&zs, in.size()));
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::vector<uint8_t> xz(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out(lzma_stream_buffer_bound(in.size()));
    size_t pos = 0;
    // CRC32, as Linux's `xz --check=crc32` payloads carry.
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(),
                                &pos, out.size()) != LZMA_OK)
        throw std::runtime_error("lzma_easy_buffer_encode");
    out.resize(pos);
    return out;
}

std::vector<uint8_t> zstd(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
    const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 19);
    if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
    out.resize(n);
    return out;
}

// The payload as Linux's mkpiggy lays it out: the compressed stream, then the
// decompressed size as a 32-bit little-endian word.
std::vector<uint8_t> piggy(std::vector<uint8_t> stream, size_t decompressed) {
    for (int i = 0; i < 4; ++i) stream.push_back(static_cast<uint8_t>(decompressed >> (8 * i)));
    return stream;
}

// Boot sector + 1 setup sector, then 32 bytes of "protected-mode code", then the payload.
struct BzImage {
    static constexpr uint64_t kSetupSects = 1;
    static constexpr uint64_t kKernelStart = (kSetupSects + 1) * 512;
    static constexpr uint32_t kPayloadOffset = 32;  // from kKernelStart

    uint16_t version = 0x020f;  // boot protocol 2.15, as Linux 6.x
    std::vector<uint8_t> payload;

    std::vector<uint8_t> build() const {
        std::vector<uint8_t> out(kKernelStart + kPayloadOffset, 0);
        out[0x1f1] = kSetupSects;
        ElfBuilder::poke<uint16_t>(out, 0x1fe, 0xaa55);
        std::memcpy(out.data() + 0x202, "HdrS", 4);
        ElfBuilder::poke<uint16_t>(out, 0x206, version);
        ElfBuilder::poke<uint32_t>(out, 0x248, kPayloadOffset);
        ElfBuilder::poke<uint32_t>(out, 0x24c, static_cast<uint32_t>(payload.size()));
        out.insert(out.end(), payload.begin(), payload.end());
        return out;
    }
};

std::vector<uint8_t> bzimage_with(std::vector<uint8_t> (*compress)(const std::vector<uint8_t>&),
                                  const std::vector<uint8_t>& inner) {
    return BzImage{.payload = piggy(compress(inner), inner.size())}.build();
}

std::string parse_error(std::vector<uint8_t> bytes, const std::string& name = "vmlinuz") {
    try {
        PvhKernel::parse(std::move(bytes), name);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(PvhKernel, ElfWithPhys32EntryNoteLoads) {
    const auto kernel = PvhKernel::parse(pvh_elf().build(), "vmlinux");
    EXPECT_EQ(kernel.format(), PvhKernel::Format::kElf);
    EXPECT_EQ(kernel.entry(), kEntry);
    ASSERT_EQ(kernel.elf().segments().size(), 1u);
    EXPECT_EQ(kernel.elf().segments()[0].paddr, 0x1000000u);
}

// Linux emits XEN_ELFNOTE_FEATURES with `.ascii`: the NUL is the note's first padding byte.
TEST(PvhKernel, LinuxFeaturesNoteTerminatedByItsPaddingIsAccepted) {
    ElfBuilder b = pvh_elf();
    const std::string features = "!writable_page_tables|pae_pgdir_above_4gb";  // 41 bytes
    b.xen_note(XEN_ELFNOTE_FEATURES, std::vector<uint8_t>(features.begin(), features.end()));
    EXPECT_EQ(PvhKernel::parse(b.build(), "vmlinux").elf().xen_notes().features, features);
}

TEST(PvhKernel, EightByteEntryNoteIsAccepted) {
    ElfBuilder b = pvh_elf(false);
    b.xen_u64(XEN_ELFNOTE_PHYS32_ENTRY, kEntry);
    EXPECT_EQ(PvhKernel::parse(b.build(), "vmlinux").entry(), kEntry);
}

TEST(PvhKernel, ElfWithoutPvhNoteIsRefused) {
    EXPECT_EQ(parse_error(pvh_elf(false).build(), "pv-only.elf"),
              "pv-only.elf: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): this kernel cannot "
              "boot as a PVH guest");
}

TEST(PvhKernel, EntryAbove4GiBIsRefused) {
    ElfBuilder b = pvh_elf(false);
    b.xen_u64(XEN_ELFNOTE_PHYS32_ENTRY, uint64_t{1} << 32);
    EXPECT_THAT(parse_error(b.build()), HasSubstr("lies above 4 GiB"));
}

TEST(PvhKernel, MalformedElfReportsTheElfParserError) {
    auto bytes = pvh_elf().build();
    bytes.resize(40);
    EXPECT_THAT(parse_error(bytes, "short.elf"), HasSubstr("short.elf: file is truncated"));
}

TEST(PvhKernel, BzImageWithEachSupportedCompressionLoads) {
    const auto inner = pvh_elf().build();
    struct Case {
        std::vector<uint8_t> (*compress)(const std::vector<uint8_t>&);
        Compression compression;
    };
    for (const Case& c : {Case{gzip, Compression::kGzip}, Case{xz, Compression::kXz},
                          Case{zstd, Compression::kZstd}}) {
        SCOPED_TRACE(compression_name(c.compression));
        const auto kernel = PvhKernel::parse(bzimage_with(c.compress, inner), "vmlinuz");
        EXPECT_EQ(kernel.format(), PvhKernel::Format::kBzImage);
        EXPECT_EQ(kernel.compression(), c.compression);
        EXPECT_EQ(kernel.entry(), kEntry);
        EXPECT_TRUE(std::equal(kernel.elf().bytes().begin(), kernel.elf().bytes().end(),
                               inner.begin(), inner.end()));
    }
}

TEST(PvhKernel, BzImageWhoseVmlinuxLacksThePvhNoteIsRefused) {
    EXPECT_EQ(parse_error(bzimage_with(xz, pvh_elf(false).build())),
              "vmlinuz: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): this kernel cannot boot "
              "as a PVH guest");
}

TEST(PvhKernel, BzImagePayloadThatIsNotElfIsRefused) {
    const std::vector<uint8_t> text(1000, 'x');
    EXPECT_EQ(parse_error(bzimage_with(gzip, text)),
              "vmlinuz (its gzip payload): the decompressed kernel is not an ELF file");
}

TEST(PvhKernel, BadElfInsideBzImageIsNamedAsThePayload) {
    auto inner = pvh_elf().build();
    inner.resize(40);
    EXPECT_THAT(parse_error(bzimage_with(zstd, inner)),
                HasSubstr("vmlinuz (its zstd payload): file is truncated"));
}

TEST(PvhKernel, NeitherElfNorBzImageIsRefused) {
    EXPECT_EQ(parse_error(std::vector<uint8_t>(4096, 0), "zeros.bin"),
              "zeros.bin: not a kernel image (neither an ELF file nor a Linux bzImage)");
    EXPECT_EQ(parse_error({}, "empty"),
              "empty: not a kernel image (neither an ELF file nor a Linux bzImage)");
}

TEST(PvhKernel, LoadReadsTheFile) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("xenolith-pvh-kernel-" + std::to_string(::getpid()));
    const auto bytes = bzimage_with(gzip, pvh_elf().build());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    const auto kernel = PvhKernel::load(path.string());
    std::filesystem::remove(path);
    EXPECT_EQ(kernel.entry(), kEntry);
    EXPECT_THROW(PvhKernel::load(path.string()), Error);  // gone now
}

// --- The setup header --------------------------------------------------------------------

TEST(BzImageHeader, PayloadIsFoundAfterTheSetupSectors) {
    BzImage b{.payload = {1, 2, 3, 4, 5}};
    const auto bytes = b.build();
    const auto payload = bzimage_payload(bytes, "vmlinuz");
    EXPECT_EQ(payload.protocol, 0x020f);
    EXPECT_EQ(payload.offset, BzImage::kKernelStart + BzImage::kPayloadOffset);
    EXPECT_EQ(std::vector<uint8_t>(payload.bytes.begin(), payload.bytes.end()), b.payload);
}

TEST(BzImageHeader, ZeroSetupSectorsMeansFour) {
    BzImage b{.payload = {9}};
    auto bytes = b.build();
    bytes[0x1f1] = 0;  // now the protected-mode code starts at 5 * 512
    bytes.resize(5 * 512 + BzImage::kPayloadOffset);
    bytes.push_back(42);
    const auto payload = bzimage_payload(bytes, "vmlinuz");
    EXPECT_EQ(payload.offset, 5 * 512u + BzImage::kPayloadOffset);
    EXPECT_EQ(payload.bytes[0], 42);
}

TEST(BzImageHeader, TruncatedPayloadIsRefused) {
    auto bytes = bzimage_with(xz, pvh_elf().build());
    const auto length = ElfBuilder::peek<uint32_t>(bytes, 0x24c);
    bytes.resize(bytes.size() - 100);
    EXPECT_EQ(parse_error(bytes), "vmlinuz: truncated payload: header says " +
                                      std::to_string(length) + " bytes, file has " +
                                      std::to_string(length - 100));
}

TEST(BzImageHeader, PayloadOffsetBeyondTheFileIsRefused) {
    auto bytes = BzImage{.payload = {1}}.build();
    ElfBuilder::poke<uint32_t>(bytes, 0x248, 0xffffffff);
    EXPECT_THAT(parse_error(bytes), HasSubstr("lies beyond the end of the"));
}

TEST(BzImageHeader, EmptyPayloadIsRefused) {
    EXPECT_EQ(parse_error(BzImage{}.build()),
              "vmlinuz: the bzImage header says the kernel payload is empty");
}

TEST(BzImageHeader, ProtocolOlderThan208IsRefused) {
    EXPECT_EQ(parse_error(BzImage{.version = 0x0206, .payload = {1}}.build()),
              "vmlinuz: boot protocol 2.06 is older than 2.08, the first to say where the kernel "
              "payload is");
}

TEST(BzImageHeader, WrongBootFlagIsRefused) {
    auto bytes = BzImage{.payload = {1}}.build();
    ElfBuilder::poke<uint16_t>(bytes, 0x1fe, 0x1234);
    EXPECT_EQ(parse_error(bytes), "vmlinuz: bzImage boot flag at 0x1fe is 0x1234, not 0xaa55");
}

TEST(BzImageHeader, HeaderCutShortIsRefused) {
    auto bytes = BzImage{.payload = {1}}.build();
    bytes.resize(0x240);
    EXPECT_THAT(parse_error(bytes), HasSubstr("too short for a bzImage setup header"));
}

TEST(BzImageHeader, WrongMagicIsNotABzImage) {
    auto bytes = BzImage{.payload = {1}}.build();
    bytes[0x205] = 'Z';  // "HdrZ"
    EXPECT_FALSE(is_bzimage(bytes));
    EXPECT_THAT(parse_error(bytes), HasSubstr("neither an ELF file nor a Linux bzImage"));
    EXPECT_THROW(bzimage_payload(bytes, "vmlinuz"), Error);
}

// --- Payload compression -----------------------------------------------------------------

TEST(KernelPayload, UnsupportedCompressionsAreNamed) {
    struct Case {
        std::vector<uint8_t> magic;
        const char* name;
    };
    for (const Case& c :
         {Case{{'B', 'Z', 'h', '9'}, "bzip2"}, Case{{0x5d, 0, 0, 0x80}, "lzma"},
          Case{{0x02, 0x21, 0x4c, 0x18}, "lz4"}, Case{{0x89, 'L', 'Z', 'O', 0}, "lzo"}}) {
        auto payload = c.magic;
        payload.resize(64, 0);
        EXPECT_EQ(parse_error(BzImage{.payload = payload}.build()),
                  std::string("vmlinuz: payload is ") + c.name +
                      "-compressed; only gzip, xz and zstd are supported");
    }
}

TEST(KernelPayload, UnknownMagicIsRefused) {
    EXPECT_EQ(parse_error(BzImage{.payload = {0xab, 0xcd, 0, 0}}.build()),
              "vmlinuz: the payload's compression is not recognised (it starts 0xab 0xcd); only "
              "gzip, xz and zstd are supported");
}

TEST(KernelPayload, TruncatedStreamsAreRefused) {
    const std::vector<uint8_t> data(100000, 7);
    for (auto compress : {gzip, xz, zstd}) {
        auto stream = compress(data);
        stream.resize(stream.size() / 2);
        EXPECT_THAT([&] { decompress_kernel_payload(stream, "vmlinuz"); },
                    ::testing::ThrowsMessage<Error>(
                        HasSubstr("payload ends before its compressed stream")));
    }
}

TEST(KernelPayload, CorruptStreamsAreRefused) {
    std::vector<uint8_t> data(100000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + i / 13);
    for (auto compress : {gzip, xz, zstd}) {
        auto stream = compress(data);
        for (size_t i = 16; i < stream.size() - 16; i += 3) stream[i] ^= 0x5a;
        EXPECT_THAT([&] { decompress_kernel_payload(stream, "vmlinuz"); },
                    ::testing::ThrowsMessage<Error>(HasSubstr("vmlinuz: the ")));
    }
}

TEST(KernelPayload, TrailingSizeWordIsIgnored) {
    const std::vector<uint8_t> data(5000, 3);
    for (auto compress : {gzip, xz, zstd})
        EXPECT_EQ(decompress_kernel_payload(piggy(compress(data), data.size()), "vmlinuz"), data);
}

TEST(KernelPayload, DecompressionBombIsStoppedAtTheLimit) {
    const std::vector<uint8_t> zeros(3 << 20, 0);  // compresses to a few KiB
    for (auto compress : {gzip, xz, zstd}) {
        const auto stream = compress(zeros);
        EXPECT_THAT([&] { decompress_kernel_payload(stream, "vmlinuz", 2 << 20); },
                    ::testing::ThrowsMessage<Error>(HasSubstr(
                        "payload decompresses to more than 2 MiB, the limit for a kernel")));
        // Exactly at the limit is still accepted.
        EXPECT_EQ(decompress_kernel_payload(stream, "vmlinuz", 3 << 20).size(), zeros.size());
    }
}

TEST(KernelPayload, DefaultLimitIs256MiB) {
    EXPECT_EQ(kMaxDecompressedKernel, 256u << 20);
}

}  // namespace
}  // namespace xenolith::boot

namespace xenolith::boot {
namespace {

// The initramfs is read with the same guard as kernels, and its errors say what it is.
TEST(ImageFile, InitramfsErrorsNameTheInitramfs) {
    char path[] = "/tmp/xenolith-initramfs-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> two_mib(2 << 20, 0x5a);
    ASSERT_EQ(::write(fd, two_mib.data(), two_mib.size()), static_cast<ssize_t>(two_mib.size()));
    ::close(fd);
    EXPECT_EQ(read_image_file(path, 4 << 20, "initramfs").size(), two_mib.size());
    try {
        read_image_file(path, 1 << 20, "initramfs");
        ADD_FAILURE() << "read past the limit";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), std::string(path) + ": the initramfs is 2097152 bytes, larger than the 1 MiB it must fit in");
    }
    ::unlink(path);
    try {
        read_image_file(path, 1 << 20, "initramfs");
        ADD_FAILURE() << "read a missing file";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), std::string(path) + ": cannot open the initramfs: No such file or directory");
    }
}

}  // namespace
}  // namespace xenolith::boot
