// The compressed vmlinux inside a Linux bzImage: recognising its compression by magic and
// inflating it with a hard size limit.
//
// The payload comes from a file the user named, so it is untrusted: a crafted stream must not
// make the daemon allocate without bound (a "decompression bomb"), and a truncated or corrupt
// stream is an error, never a short kernel.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xenolith::boot {

// Every compressor Linux can build a bzImage with (arch/x86/boot/compressed).
enum class Compression { kGzip, kXz, kZstd, kBzip2, kLzma, kLz4, kLzo, kUnknown };

// The compression whose magic `payload` starts with; kUnknown when none matches.
Compression detect_compression(std::span<const uint8_t> payload);

// "gzip", "xz", ... for messages.
const char* compression_name(Compression compression);

// Largest decompressed kernel accepted. Debian's vmlinux is about 60 MiB; anything past
// this is a broken or hostile image, not a kernel.
inline constexpr uint64_t kMaxDecompressedKernel = uint64_t{256} << 20;

// Decompresses a gzip, xz or zstd `payload`. Bytes after the end of the compressed stream
// are ignored: Linux appends the decompressed size as 4 bytes after it. Throws
// xenolith::Error starting with `name` when the compression is not supported, the stream is
// corrupt or truncated, or the output would exceed `limit` bytes.
std::vector<uint8_t> decompress_kernel_payload(std::span<const uint8_t> payload,
                                               const std::string& name,
                                               uint64_t limit = kMaxDecompressedKernel);

}  // namespace xenolith::boot
