// disk= through libxlutil's xlu_disk_parse, so that every spelling xl accepts (positional,
// key=value, the deprecated "phy:/dev/x,xvda,w" form) means here what it means to xl.
// xlu reports bad specs by printing to the XLU_Config's report stream; we point that at
// a memory stream and turn what it printed into a ConfigError.
#include "toolstack/xlcfg/disk_spec.hpp"

// Xen's headers have no extern "C" of their own.
extern "C" {
#include <libxl.h>
#include <libxlutil.h>
}

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>

namespace xenolith::xlcfg {

namespace {

[[noreturn]] void fail(const DeviceSpec& spec, std::string_view message) {
    throw ConfigError(spec.pos, "disk: " + std::string(message));
}

std::string quoted(std::string_view text) {
    return "'" + printable(text) + "'";
}

// A FILE* writing into memory (open_memstream), for xlu's report.
class MemoryStream {
  public:
    MemoryStream() : file_(open_memstream(&buffer_, &size_)) {
        if (file_ == nullptr) throw std::bad_alloc();
    }
    ~MemoryStream() {
        std::fclose(file_);
        std::free(buffer_);
    }
    MemoryStream(const MemoryStream&) = delete;
    MemoryStream& operator=(const MemoryStream&) = delete;

    FILE* file() const { return file_; }
    std::string text() {
        std::fflush(file_);
        return buffer_ == nullptr ? std::string() : std::string(buffer_, size_);
    }

  private:
    char* buffer_ = nullptr;
    std::size_t size_ = 0;
    FILE* file_;
};

struct XluConfigDeleter {
    void operator()(XLU_Config* config) const { xlu_cfg_destroy(config); }
};

// libxl_device_disk with its init/dispose pairing.
class LibxlDisk {
  public:
    LibxlDisk() { libxl_device_disk_init(&disk_); }
    ~LibxlDisk() { libxl_device_disk_dispose(&disk_); }
    LibxlDisk(const LibxlDisk&) = delete;
    LibxlDisk& operator=(const LibxlDisk&) = delete;

    libxl_device_disk* get() { return &disk_; }
    const libxl_device_disk& operator*() const { return disk_; }

  private:
    libxl_device_disk disk_;
};

// xlu prints "<source>: config parsing error in disk specification: <what> in `<spec>'",
// one line per complaint. Keep <what>: the message's position already names the spec,
// which may be long. Bytes outside printable ASCII (the spec is user text) become \xHH.
std::string xlu_complaints(const std::string& report) {
    static constexpr std::string_view kLead = "disk specification: ";
    std::string out;
    std::size_t start = 0;
    while (start < report.size()) {
        std::size_t end = report.find('\n', start);
        if (end == std::string::npos) end = report.size();
        std::string_view line(report.data() + start, end - start);
        start = end + 1;
        if (const std::size_t lead = line.find(kLead); lead != std::string_view::npos)
            line.remove_prefix(lead + kLead.size());
        if (const std::size_t in = line.rfind(" in `"); in != std::string_view::npos)
            line = line.substr(0, in);
        if (line.empty()) continue;
        if (!out.empty()) out += "; ";
        for (unsigned char c : line) {
            if (c >= 0x20 && c < 0x7f) {
                out += static_cast<char>(c);
            } else {
                static constexpr char kHex[] = "0123456789abcdef";
                out += "\\x";
                out += kHex[c >> 4];
                out += kHex[c & 0xf];
            }
        }
    }
    return out;
}

// Runs Xen's parser; throws ConfigError with its complaints if it refuses the spec.
void xlu_parse(const DeviceSpec& spec, LibxlDisk& disk) {
    MemoryStream report;
    std::unique_ptr<XLU_Config, XluConfigDeleter> config(
        xlu_cfg_init(report.file(), spec.pos.file.c_str()));
    if (!config) throw std::bad_alloc();
    const char* specs[] = {spec.spec.c_str()};
    const int rc = xlu_disk_parse(config.get(), 1, specs, disk.get());
    if (rc == 0) return;
    if (rc == ENOMEM) throw std::bad_alloc();
    std::string why = xlu_complaints(report.text());
    fail(spec, why.empty() ? "invalid disk specification" : why);
}

bool is_domain0(std::string_view name) {
    return name == "0" || name == "Domain-0";
}

// What xlu accepted but Xenolith's backend cannot serve.
void check_servable(const DeviceSpec& spec, const libxl_device_disk& d) {
    if (d.format != LIBXL_DISK_FORMAT_RAW && d.format != LIBXL_DISK_FORMAT_EMPTY)
        fail(spec, "format " + std::string(libxl_disk_format_to_string(d.format)) +
                       " is not supported; Xenolith serves raw images and block devices only");
    switch (d.backend) {
        case LIBXL_DISK_BACKEND_UNKNOWN:
        case LIBXL_DISK_BACKEND_PHY:
            break;
        default:
            fail(spec, "backendtype=" + std::string(libxl_disk_backend_to_string(d.backend)) +
                           " is not supported (it needs QEMU or tapdisk); leave it out or use "
                           "backendtype=phy");
    }
    if (d.script != nullptr)
        fail(spec, "script=" + printable(d.script) +
                       " is not supported: Xenolith runs no block scripts; give a block device "
                       "or an image file as the target");
    if (d.backend_domname != nullptr && !is_domain0(d.backend_domname))
        fail(spec, "backend=" + printable(d.backend_domname) +
                       " is not supported: only Domain-0 (the daemon) serves disks");
    if (d.specification == LIBXL_DISK_SPECIFICATION_VIRTIO)
        fail(spec, "specification=virtio is not supported; Xenolith's disks are Xen PV disks");
    if (!libxl_defbool_is_default(d.colo_enable) && libxl_defbool_val(d.colo_enable))
        fail(spec, "COLO replication (colo) is not supported");
}

DiskConfig to_disk_config(const DeviceSpec& spec, const libxl_device_disk& d) {
    DiskConfig out;
    out.pos = spec.pos;
    out.cdrom = d.is_cdrom != 0;
    if (d.pdev_path == nullptr || *d.pdev_path == '\0')
        fail(spec, out.cdrom ? "an empty cdrom drive is not supported; give an image as target"
                             : "no target specified (the block device or image file to serve)");
    out.target = d.pdev_path;

    if (d.vdev == nullptr || *d.vdev == '\0') fail(spec, "no vdev specified");
    out.vdev = d.vdev;
    const std::optional<std::uint32_t> devid = vdev_to_devid(out.vdev);
    if (!devid)
        fail(spec, "vdev " + quoted(out.vdev) +
                       " is not a virtual device name (xvda, xvdb2, hda, sdb, d0p1 or a number)");
    out.devid = *devid;

    out.readonly = d.readwrite == 0 || out.cdrom;
    out.format = DiskFormat::Raw;
    out.backend_type =
        d.backend == LIBXL_DISK_BACKEND_PHY || out.target.starts_with("/dev/") ? "phy" : "file";
    out.discard = libxl_defbool_is_default(d.discard_enable) || libxl_defbool_val(d.discard_enable);
    return out;
}

// A run of lower-case letters as a disk number: a = 0, ..., z = 25, aa = 26, ... (base 26
// with no zero digit). False past `max`.
bool disk_letters(std::string_view letters, std::uint32_t max, std::uint32_t& disk) {
    if (letters.empty()) return false;
    std::uint64_t n = 0;
    for (char c : letters) {
        if (c < 'a' || c > 'z') return false;
        n = n * 26 + static_cast<std::uint64_t>(c - 'a' + 1);
        if (n - 1 > max) return false;
    }
    disk = static_cast<std::uint32_t>(n - 1);
    return true;
}

// A decimal number without sign or leading zeros, at most `max`.
bool plain_decimal(std::string_view digits, std::uint32_t max, std::uint32_t& value) {
    if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0'))
        return false;
    std::uint32_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (n > max) return false;
    value = n;
    return true;
}

// "<prefix><letters>[<partition>]", e.g. "xvdb2". The partition is 0 when absent.
bool lettered(std::string_view vdev, std::string_view prefix, std::uint32_t max_disk,
              std::uint32_t max_partition, std::uint32_t& disk, std::uint32_t& partition) {
    if (!vdev.starts_with(prefix)) return false;
    vdev.remove_prefix(prefix.size());
    std::size_t letters = 0;
    while (letters < vdev.size() && vdev[letters] >= 'a' && vdev[letters] <= 'z') ++letters;
    if (!disk_letters(vdev.substr(0, letters), max_disk, disk)) return false;
    partition = 0;
    if (letters == vdev.size()) return true;
    // "xvda0" is not "xvda": a partition is written only when it is not the whole disk.
    return vdev[letters] != '0' && plain_decimal(vdev.substr(letters), max_partition, partition);
}

// "d<disk>[p<partition>]", e.g. "d536p37".
bool numbered(std::string_view vdev, std::uint32_t& disk, std::uint32_t& partition) {
    if (!vdev.starts_with('d')) return false;
    vdev.remove_prefix(1);
    const std::size_t p = vdev.find('p');
    partition = 0;
    if (!plain_decimal(vdev.substr(0, p), (1u << 20) - 1, disk)) return false;
    return p == std::string_view::npos || plain_decimal(vdev.substr(p + 1), 255, partition);
}

std::uint32_t xvd_encoding(std::uint32_t disk, std::uint32_t partition) {
    if (disk <= 15 && partition <= 15) return (202u << 8) | (disk << 4) | partition;
    return (1u << 28) | (disk << 8) | partition;
}

}  // namespace

std::string_view to_string(DiskFormat format) {
    switch (format) {
        case DiskFormat::Raw:
            return "raw";
    }
    return "?";
}

std::optional<std::uint32_t> vdev_to_devid(std::string_view vdev) {
    std::uint32_t disk = 0;
    std::uint32_t partition = 0;
    if (numbered(vdev, disk, partition) ||
        lettered(vdev, "xvd", (1u << 20) - 1, 255, disk, partition))
        return xvd_encoding(disk, partition);
    if (lettered(vdev, "hd", 3, 63, disk, partition))
        return ((disk < 2 ? 3u : 22u) << 8) | ((disk & 1) << 6) | partition;
    if (lettered(vdev, "sd", 15, 15, disk, partition)) return (8u << 8) | (disk << 4) | partition;
    unsigned long long number = 0;
    if (parse_number(vdev, number) && number <= 0x7fffffffULL)
        return static_cast<std::uint32_t>(number);
    return std::nullopt;
}

DiskConfig parse_disk_spec(const DeviceSpec& spec) {
    LibxlDisk disk;
    xlu_parse(spec, disk);
    check_servable(spec, *disk);
    return to_disk_config(spec, *disk);
}

void check_unique_devids(const std::vector<DiskConfig>& disks) {
    std::map<std::uint32_t, const DiskConfig*> seen;
    for (const DiskConfig& d : disks) {
        const auto [it, fresh] = seen.emplace(d.devid, &d);
        if (fresh) continue;
        const DiskConfig& first = *it->second;
        throw ConfigError(d.pos, "disk: vdev " + quoted(d.vdev) + " is device " +
                                     std::to_string(d.devid) + ", already used by vdev " +
                                     quoted(first.vdev) + " at " + first.pos.to_string());
    }
}

std::string disk_spec_text(const DiskConfig& disk) {
    std::string out = "format=" + std::string(to_string(disk.format)) + ", vdev=" + disk.vdev +
                      ", access=" + (disk.readonly ? "ro" : "rw");
    if (disk.cdrom) out += ", devtype=cdrom";
    if (disk.backend_type == "phy") out += ", backendtype=phy";
    out += disk.discard ? ", discard" : ", no-discard";
    return out + ", target=" + disk.target;  // last: a target may hold commas
}

}  // namespace xenolith::xlcfg
