#include "backends/blkback/image.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <fstream>

#include "base/error.hpp"

namespace xenolith::blkback {

namespace {

// A number from the device's queue in sysfs; a partition has no queue of its own, so its
// parent's is tried next. 0 when neither is readable.
uint64_t queue_attribute(dev_t dev, const std::string& name) {
    std::string base =
        "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
    for (const char* dir : {"/queue/", "/../queue/"}) {
        std::ifstream in(base + dir + name);
        uint64_t value = 0;
        if (in >> value) return value;
    }
    return 0;
}

}  // namespace

Image::Image(std::string path, Access access)
    : path_(std::move(path)), readonly_(access == Access::ReadOnly) {
    int flags = (readonly_ ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    fd_.reset(::open(path_.c_str(), flags));
    if (!fd_) throw SystemError("disk image " + path_ + " cannot be opened", errno);
    struct stat st {};
    if (::fstat(fd_.get(), &st) < 0) throw SystemError("disk image " + path_ + ": fstat", errno);
    if (S_ISBLK(st.st_mode)) {
        block_device_ = true;
        probe_block_device();
    } else if (S_ISREG(st.st_mode)) {
        probe_file(static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_blksize));
    } else {
        throw Error("disk image " + path_ + " is neither a regular file nor a block device");
    }
}

void Image::probe_file(uint64_t bytes, uint32_t fs_block) {
    // A tail shorter than a sector is not part of the disk (as Linux blkback sizes files).
    sectors_ = bytes >> kSectorShift;
    physical_sector_size_ = fs_block >= kSectorSize && fs_block <= 65536 ? fs_block : kSectorSize;
    if (readonly_) return;
    // Punching a hole past the end changes nothing, yet fails with EOPNOTSUPP exactly
    // where the file system cannot punch holes at all.
    int rc = ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(bytes), physical_sector_size_);
    discard_ = rc == 0;
    discard_granularity_ = discard_ ? physical_sector_size_ : 0;
}

void Image::probe_block_device() {
    uint64_t bytes = 0;
    int logical = 0;
    unsigned int physical = 0;
    if (::ioctl(fd_.get(), BLKGETSIZE64, &bytes) < 0)
        throw SystemError("disk image " + path_ + ": BLKGETSIZE64", errno);
    if (::ioctl(fd_.get(), BLKSSZGET, &logical) < 0)
        throw SystemError("disk image " + path_ + ": BLKSSZGET", errno);
    if (::ioctl(fd_.get(), BLKPBSZGET, &physical) < 0) physical = static_cast<unsigned>(logical);
    sectors_ = bytes >> kSectorShift;
    sector_size_ = logical > 0 ? static_cast<uint32_t>(logical) : kSectorSize;
    physical_sector_size_ = physical >= sector_size_ ? physical : sector_size_;
    if (readonly_) return;
    struct stat st {};
    ::fstat(fd_.get(), &st);
    discard_ = queue_attribute(st.st_rdev, "discard_max_bytes") > 0;
    if (discard_) {
        uint64_t granularity = queue_attribute(st.st_rdev, "discard_granularity");
        discard_granularity_ = static_cast<uint32_t>(granularity ? granularity : sector_size_);
    }
}

int Image::discard(uint64_t offset, uint64_t length) const {
    if (!discard_) return -EOPNOTSUPP;
    if (length == 0) return 0;
    int rc;
    if (block_device_) {
        uint64_t range[2] = {offset, length};
        rc = ::ioctl(fd_.get(), BLKDISCARD, range);
    } else {
        rc = ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(offset), static_cast<off_t>(length));
    }
    return rc < 0 ? -errno : 0;
}

}  // namespace xenolith::blkback
