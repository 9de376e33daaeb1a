// A raw disk image behind a virtual block device: a regular file or a host block device,
// opened once for the device's life. Sizes are in 512-byte sectors, the unit of every
// blkif request whatever the image's own sector size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/unique_fd.hpp"

namespace xenolith::blkback {

inline constexpr uint32_t kSectorSize = 512;
inline constexpr unsigned kSectorShift = 9;

class Image {
  public:
    enum class Access { ReadOnly, ReadWrite };

    // Opens `path` (O_RDONLY for ReadOnly) and reads its geometry. Throws SystemError
    // naming the path and errno, or Error when it is neither a file nor a block device.
    Image(std::string path, Access access);
    static std::shared_ptr<Image> open(std::string path, Access access) {
        return std::make_shared<Image>(std::move(path), access);
    }

    const std::string& path() const { return path_; }
    int fd() const { return fd_.get(); }
    bool readonly() const { return readonly_; }
    bool block_device() const { return block_device_; }
    // Capacity in 512-byte sectors (a file's partial last sector is left out).
    uint64_t sectors() const { return sectors_; }
    // The image's logical and physical sector sizes (512 and the file system block size
    // for files; BLKSSZGET and BLKPBSZGET for devices).
    uint32_t sector_size() const { return sector_size_; }
    uint32_t physical_sector_size() const { return physical_sector_size_; }
    // Whether discards free space: a writable file on a file system that punches holes, or
    // a device whose queue accepts discards.
    bool discard_supported() const { return discard_; }
    // Smallest unit a discard frees, in bytes (0 when discards are not supported).
    uint32_t discard_granularity() const { return discard_granularity_; }

    // Discards [offset, offset + length) synchronously: hole punch or BLKDISCARD.
    // 0 or a negative errno (-EOPNOTSUPP when discards are not supported).
    int discard(uint64_t offset, uint64_t length) const;

  private:
    void probe_file(uint64_t bytes, uint32_t fs_block);
    void probe_block_device();

    std::string path_;
    UniqueFd fd_;
    bool readonly_;
    bool block_device_ = false;
    uint64_t sectors_ = 0;
    uint32_t sector_size_ = kSectorSize;
    uint32_t physical_sector_size_ = kSectorSize;
    bool discard_ = false;
    uint32_t discard_granularity_ = 0;
};

}  // namespace xenolith::blkback
