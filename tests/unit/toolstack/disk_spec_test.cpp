// disk= specs: every example of Xen's docs/misc/xl-disk-configuration.txt parses to what
// the document says it means, or is refused with the reason Xenolith cannot serve it; bad
// specs fail at the spec's file:line:col; vdev names encode as docs/misc/vbd-interface.txt's
// table says.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "toolstack/xlcfg/disk_spec.hpp"

namespace xenolith::xlcfg {
namespace {

const Position kAt{"d.cfg", 7, 9};

DiskConfig parse(std::string_view spec) {
    return parse_disk_spec(DeviceSpec{std::string(spec), kAt});
}

std::string error_of(std::string_view spec) {
    try {
        parse(spec);
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.position().line, 7u);
        return e.what();
    }
    return "no error";
}

void expect_disk(std::string_view spec, std::string_view target, std::string_view vdev,
                 std::uint32_t devid, bool readonly, bool cdrom) {
    SCOPED_TRACE(std::string(spec));
    const DiskConfig d = parse(spec);
    EXPECT_EQ(d.target, target);
    EXPECT_EQ(d.vdev, vdev);
    EXPECT_EQ(d.devid, devid);
    EXPECT_EQ(d.readonly, readonly);
    EXPECT_EQ(d.cdrom, cdrom);
    EXPECT_EQ(d.format, DiskFormat::Raw);
    EXPECT_EQ(d.pos.to_string(), "d.cfg:7:9");
}

constexpr std::uint32_t kHda = 3 << 8;   // hd disk 0
constexpr std::uint32_t kHdc = 22 << 8;  // hd disk 2

// "For example, these strings are equivalent:"
TEST(DiskSpecDocExamples, FourSpellingsOfAWritableHda) {
    for (const char* spec : {
             "/dev/vg/guest-volume,,hda",
             "/dev/vg/guest-volume,raw,hda,rw",
             "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
             "raw:/dev/vg/guest-volume,hda,w",
         })
        expect_disk(spec, "/dev/vg/guest-volume", "hda", kHda, false, false);
}

// "As are these:" a cdrom, read-only by default.
TEST(DiskSpecDocExamples, FiveSpellingsOfACdromHdc) {
    for (const char* spec : {
             "/root/image.iso,,hdc,cdrom",
             "/root/image.iso,,hdc,,cdrom",
             "/root/image.iso,raw,hdc,devtype=cdrom",
             "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
             "raw:/root/image.iso,hdc:cdrom,ro",
         }) {
        expect_disk(spec, "/root/image.iso", "hdc", kHdc, true, true);
        EXPECT_EQ(parse(spec).device_type(), "cdrom");
        EXPECT_EQ(parse(spec).mode(), "r");
    }
}

TEST(DiskSpecDocExamples, AccessValuesAndDefault) {
    EXPECT_FALSE(parse("/i,raw,xvda").readonly);  // default rw
    EXPECT_FALSE(parse("/i,raw,xvda,rw").readonly);
    EXPECT_FALSE(parse("/i,raw,xvda,w").readonly);
    EXPECT_TRUE(parse("/i,raw,xvda,ro").readonly);
    EXPECT_TRUE(parse("/i,raw,xvda,r").readonly);
    EXPECT_EQ(parse("/i,raw,xvda,r").mode(), "r");
    EXPECT_EQ(parse("/i,raw,xvda,w").device_type(), "disk");
    // A cdrom is read-only whatever access says.
    EXPECT_TRUE(parse("/i,raw,xvdc,rw,cdrom").readonly);
}

TEST(DiskSpecDocExamples, EmptyParametersTakeTheirDefaults) {
    expect_disk("/i,,xvda,", "/i", "xvda", 51712, false, false);
    expect_disk("vdev=xvdb,target=/i", "/i", "xvdb", 51728, false, false);
}

// "target=" consumes the rest of the spec, commas and trailing blanks included.
TEST(DiskSpecDocExamples, TargetKeyTakesTheRestOfTheSpec) {
    expect_disk("vdev=xvda, access=w, target=/srv/a,b c ", "/srv/a,b c ", "xvda", 51712, false,
                false);
    // So a key after target= is part of the target, and the vdev is missing.
    EXPECT_EQ(error_of("target=/i,vdev=xvdb"), "d.cfg:7:9: disk: no vdev specified");
}

// Deprecated prefixes: "raw:" names the format; tapdisk:, tap2:, aio:, ioemu:, file: and
// phy: "are now stripped and ignored", even several of them.
TEST(DiskSpecDocExamples, DeprecatedPrefixesAreStripped) {
    for (const char* spec :
         {"tapdisk:/i,xvda,w", "tap2:/i,xvda,w", "aio:/i,xvda,w", "ioemu:/i,xvda,w",
          "file:/i,xvda,w", "phy:/i,xvda,w", "tap:aio:/i,xvda,w", "raw:/i,xvda,w"})
        expect_disk(spec, "/i", "xvda", 51712, false, false);
}

TEST(DiskSpecDocExamples, BackendTypeFollowsBackendtypeOrDevPath) {
    EXPECT_EQ(parse("/srv/a.img,raw,xvda").backend_type, "file");
    EXPECT_EQ(parse("file:/srv/a.img,xvda,w").backend_type, "file");
    EXPECT_EQ(parse("phy:/dev/vg/a,xvda,w").backend_type, "phy");
    EXPECT_EQ(parse("/srv/a.img,raw,xvda,backendtype=phy").backend_type, "phy");
}

TEST(DiskSpecDocExamples, DiscardDefaultsOnAndNoDiscardTurnsItOff) {
    EXPECT_TRUE(parse("/i,raw,xvda").discard);
    EXPECT_TRUE(parse("/i,raw,xvda,discard").discard);
    EXPECT_FALSE(parse("/i,raw,xvda,no-discard").discard);
}

TEST(DiskSpecDocExamples, DirectIoSafeAndDomain0BackendAreAccepted) {
    expect_disk("/i,raw,xvda,direct-io-safe", "/i", "xvda", 51712, false, false);
    expect_disk("/i,raw,xvda,backend=Domain-0", "/i", "xvda", 51712, false, false);
    expect_disk("/i,raw,xvda,backend=0", "/i", "xvda", 51712, false, false);
}

TEST(DiskSpecRefused, FormatsOtherThanRaw) {
    for (const char* format : {"qcow", "qcow2", "vhd", "qed"})
        EXPECT_EQ(error_of(std::string("/i,") + format + ",xvda"),
                  std::string("d.cfg:7:9: disk: format ") + format +
                      " is not supported; Xenolith serves raw images and block devices only");
    // The deprecated format prefixes mean the same.
    EXPECT_EQ(error_of("qcow2:/i,xvda,w"),
              "d.cfg:7:9: disk: format qcow2 is not supported; Xenolith serves raw images and "
              "block devices only");
    EXPECT_EQ(error_of("vhd:/i,xvda,w"),
              "d.cfg:7:9: disk: format vhd is not supported; Xenolith serves raw images and "
              "block devices only");
}

TEST(DiskSpecRefused, BackendTypesThatNeedQemuOrTapdisk) {
    for (const char* type : {"tap", "qdisk", "standalone"})
        EXPECT_EQ(error_of(std::string("/i,raw,xvda,backendtype=") + type),
                  std::string("d.cfg:7:9: disk: backendtype=") + type +
                      " is not supported (it needs QEMU or tapdisk); leave it out or use "
                      "backendtype=phy");
}

TEST(DiskSpecRefused, ScriptsAndTheScriptPrefixes) {
    EXPECT_EQ(error_of("/i,raw,xvda,script=block-drbd"),
              "d.cfg:7:9: disk: script=block-drbd is not supported: Xenolith runs no block "
              "scripts; give a block device or an image file as the target");
    // "iscsi:", "nbd:", "enbd:", "drbd:" are "equivalent to script=block-<script>".
    for (const char* prefix : {"iscsi", "nbd", "enbd", "drbd"})
        EXPECT_EQ(error_of(std::string(prefix) + ":remote,xvda,w"),
                  std::string("d.cfg:7:9: disk: script=block-") + prefix +
                      " is not supported: Xenolith runs no block scripts; give a block device "
                      "or an image file as the target");
}

TEST(DiskSpecRefused, EmptyCdromDrive) {
    // "the deprecated syntax for empty cdroms, ',hdc:cdrom,r'", and its modern spelling.
    for (const char* spec : {",hdc:cdrom,r", "vdev=hdc,devtype=cdrom"})
        EXPECT_EQ(error_of(spec),
                  "d.cfg:7:9: disk: an empty cdrom drive is not supported; give an image as "
                  "target");
}

TEST(DiskSpecRefused, OtherBackendDomainsVirtioAndColo) {
    EXPECT_EQ(error_of("/i,raw,xvda,backend=driverdom"),
              "d.cfg:7:9: disk: backend=driverdom is not supported: only Domain-0 (the daemon) "
              "serves disks");
    EXPECT_EQ(error_of("/i,raw,xvda,specification=virtio"),
              "d.cfg:7:9: disk: specification=virtio is not supported; Xenolith's disks are Xen "
              "PV disks");
    EXPECT_EQ(error_of("/i,raw,xvda,colo,colo-host=h,colo-port=1,colo-export=e,"
                       "active-disk=a,hidden-disk=b"),
              "d.cfg:7:9: disk: COLO replication (colo) is not supported");
}

TEST(DiskSpecErrors, MissingOrEmptyVdev) {
    EXPECT_EQ(error_of("/srv/a.img"), "d.cfg:7:9: disk: no vdev specified");
    EXPECT_EQ(error_of("/srv/a.img,raw,,w"), "d.cfg:7:9: disk: no vdev specified");
}

TEST(DiskSpecErrors, EmptyTarget) {
    // With no target at all, xlu itself complains.
    EXPECT_EQ(error_of("vdev=xvda"),
              "d.cfg:7:9: disk: no target specified (and device not removable)");
    for (const char* spec : {",,xvda", "phy:,xvda,w", "vdev=xvda,target="})
        EXPECT_EQ(error_of(spec),
                  "d.cfg:7:9: disk: no target specified (the block device or image file to "
                  "serve)");
}

TEST(DiskSpecErrors, UnknownKeyIsXlusComplaint) {
    EXPECT_EQ(error_of("/srv/a.img,raw,xvda,w,foo=bar"),
              "d.cfg:7:9: disk: unknown parameter: near `foo=b'");
}

TEST(DiskSpecErrors, BadAccessValue) {
    EXPECT_EQ(error_of("/srv/a.img,raw,xvda,x"),
              "d.cfg:7:9: disk: unknown value for access: near `x'");
}

TEST(DiskSpecErrors, PositionalVdevWithoutFormatNeedsTheDeprecatedPrefix) {
    // Positional order is target, format, vdev, access: without a "prefix:" the second
    // item is the format (xl says the same).
    EXPECT_EQ(error_of("/srv/a.img,xvda,w"),
              "d.cfg:7:9: disk: unknown value for format: near `xvda'");
}

TEST(DiskSpecErrors, VdevThatIsNotADeviceName) {
    EXPECT_EQ(error_of("/i,raw,floppy"),
              "d.cfg:7:9: disk: vdev 'floppy' is not a virtual device name (xvda, xvdb2, hda, "
              "sdb, d0p1 or a number)");
}

TEST(DiskSpecErrors, ControlBytesInTheSpecAreEscapedInTheMessage) {
    EXPECT_EQ(error_of("/i,raw,xvda,w,\x01zz"),
              "d.cfg:7:9: disk: too many positional parameters: near `\\x01zz'");
}

// docs/misc/vbd-interface.txt, "The config file syntaxes are, for example".
TEST(VdevToDevid, TheDocumentsTable) {
    const std::uint32_t xvda = 202 << 8;
    EXPECT_EQ(vdev_to_devid("d0"), xvda);
    EXPECT_EQ(vdev_to_devid("d0p0"), xvda);
    EXPECT_EQ(vdev_to_devid("xvda"), xvda);
    EXPECT_EQ(vdev_to_devid("d1p2"), (202u << 8) | (1 << 4) | 2);
    EXPECT_EQ(vdev_to_devid("xvdb2"), (202u << 8) | (1 << 4) | 2);
    EXPECT_EQ(vdev_to_devid("d536p37"), (1u << 28) | (536 << 8) | 37);
    EXPECT_EQ(vdev_to_devid("xvdtq37"), (1u << 28) | (536 << 8) | 37);
    EXPECT_EQ(vdev_to_devid("sdb3"), (8u << 8) | (1 << 4) | 3);
    EXPECT_EQ(vdev_to_devid("hdc2"), (22u << 8) | 2);
}

TEST(VdevToDevid, EncodingBoundaries) {
    EXPECT_EQ(vdev_to_devid("xvda"), 51712u);
    EXPECT_EQ(vdev_to_devid("xvdb"), 51728u);
    EXPECT_EQ(vdev_to_devid("xvdp15"), (202u << 8) | (15 << 4) | 15);
    EXPECT_EQ(vdev_to_devid("xvdq"), (1u << 28) | (16 << 8));  // disk 16: extended
    EXPECT_EQ(vdev_to_devid("xvda16"), (1u << 28) | 16);       // partition 16: extended
    EXPECT_EQ(vdev_to_devid("xvdz"), (1u << 28) | (25 << 8));
    EXPECT_EQ(vdev_to_devid("xvdaa"), (1u << 28) | (26 << 8));
    EXPECT_EQ(vdev_to_devid("xvda255"), (1u << 28) | 255);
    EXPECT_EQ(vdev_to_devid("d1048575p255"), (1u << 28) | (1048575u << 8) | 255);
    EXPECT_EQ(vdev_to_devid("hda"), 3u << 8);
    EXPECT_EQ(vdev_to_devid("hdb63"), (3u << 8) | (1 << 6) | 63);
    EXPECT_EQ(vdev_to_devid("hdd"), (22u << 8) | (1 << 6));
    EXPECT_EQ(vdev_to_devid("sda"), 8u << 8);
    EXPECT_EQ(vdev_to_devid("sdp15"), (8u << 8) | (15 << 4) | 15);
}

TEST(VdevToDevid, NumbersAreTheEncodingItself) {
    EXPECT_EQ(vdev_to_devid("51712"), 51712u);
    EXPECT_EQ(vdev_to_devid("0xca00"), 51712u);
    EXPECT_EQ(vdev_to_devid("0145000"), 51712u);  // octal
    EXPECT_EQ(vdev_to_devid("2147483647"), 2147483647u);
    EXPECT_EQ(vdev_to_devid("2147483648"), std::nullopt);
}

TEST(VdevToDevid, RefusesWhatIsNoDevice) {
    for (const char* vdev :
         {"",       "xvd",   "xvda0", "xvda01", "xvda256",    "xvdA",
          "xvda-1", "hde",   "hda64", "sdq",    "sda16",      "d",
          "dp1",    "d1p",   "d01p1", "d1p256", "d1048576p0", "d-1p0",
          "vda",    "xvda ", "-1",    "0x",     "12a",        "xvdzzzzzzzzzzzzzzzzzzzzzzzzzzzz"})
        EXPECT_EQ(vdev_to_devid(vdev), std::nullopt) << vdev;
}

TEST(DiskSet, SameDeviceTwiceIsRefusedHoweverSpelled) {
    std::vector<DiskConfig> disks{parse("/a,raw,xvda"),
                                  parse_disk_spec({"/b,raw,d0p0", Position{"d.cfg", 8, 3}})};
    try {
        check_unique_devids(disks);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(),
                     "d.cfg:8:3: disk: vdev 'd0p0' is device 51712, already used by vdev 'xvda' "
                     "at d.cfg:7:9");
    }
    disks[1] = parse("/b,raw,xvdb");
    EXPECT_NO_THROW(check_unique_devids(disks));
}

// What a saved domain carries of a disk parses back into the same disk.
TEST(DiskSpec, ItsTextParsesBackIntoTheSameDisk) {
    for (const char* spec : {"/srv/a.img,raw,xvda,rw", "vdev=hdc,devtype=cdrom,target=/srv/c.iso",
                             "backendtype=phy,vdev=xvdb,access=ro,no-discard,target=/dev/sdz",
                             "vdev=51728, target=/srv/with,comma.img"}) {
        const DiskConfig a = parse(spec);
        const DiskConfig b = parse(disk_spec_text(a));
        EXPECT_EQ(b.target, a.target) << spec << " -> " << disk_spec_text(a);
        EXPECT_EQ(b.vdev, a.vdev);
        EXPECT_EQ(b.devid, a.devid);
        EXPECT_EQ(b.readonly, a.readonly);
        EXPECT_EQ(b.cdrom, a.cdrom);
        EXPECT_EQ(b.backend_type, a.backend_type);
        EXPECT_EQ(b.discard, a.discard);
    }
}

}  // namespace
}  // namespace xenolith::xlcfg
