// xl.cfg keys to DomainConfig: xl's defaults, each key's type and range checks with exact
// positions, the root/extra/cmdline rules, CPU lists, device lists and unknown-key warnings.
#include <gtest/gtest.h>

#include <string>

#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::xlcfg {
namespace {

constexpr std::string_view kMinimal = "name = 'guest'\nkernel = '/boot/vmlinuz'\n";

DomainConfig convert(std::string_view text) {
    return to_domain_config(Config::parse(text, "d.cfg"));
}

// A minimal valid config followed by `extra` (starting on line 3).
DomainConfig with(std::string_view extra) {
    return convert(std::string(kMinimal) + std::string(extra));
}

std::string error_of(std::string_view text) {
    try {
        convert(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::string error_with(std::string_view extra) {
    return error_of(std::string(kMinimal) + std::string(extra));
}

std::vector<std::string> specs(const std::vector<DeviceSpec>& devices) {
    std::vector<std::string> out;
    for (const auto& d : devices) out.push_back(d.spec);
    return out;
}

TEST(DomainConfigDefaults, MinimalPvConfigGetsXlDefaults) {
    DomainConfig dc = convert(kMinimal);
    EXPECT_EQ(dc.name, "guest");
    EXPECT_FALSE(dc.uuid.has_value());
    EXPECT_EQ(dc.type, DomainType::Pv);
    EXPECT_EQ(dc.kernel, "/boot/vmlinuz");
    EXPECT_EQ(dc.ramdisk, "");
    EXPECT_EQ(dc.cmdline, "");
    EXPECT_EQ(dc.memory_mib, 32u);  // libxl's default
    EXPECT_EQ(dc.maxmem_mib, 32u);
    EXPECT_EQ(dc.vcpus, 1u);
    EXPECT_EQ(dc.maxvcpus, 1u);
    EXPECT_FALSE(dc.cpus.has_value());
    EXPECT_FALSE(dc.cpus_soft.has_value());
    EXPECT_EQ(dc.on_poweroff, ShutdownAction::Destroy);
    EXPECT_EQ(dc.on_reboot, ShutdownAction::Restart);
    EXPECT_EQ(dc.on_crash, ShutdownAction::Destroy);
    EXPECT_FALSE(dc.pool.has_value());
    EXPECT_EQ(dc.weight, 256u);
    EXPECT_EQ(dc.cap, 0u);
    EXPECT_TRUE(dc.disks.empty());
    EXPECT_TRUE(dc.vifs.empty());
    EXPECT_TRUE(dc.vfbs.empty());
    EXPECT_TRUE(dc.channels.empty());
    EXPECT_TRUE(dc.p9s.empty());
    EXPECT_TRUE(dc.pcis.empty());
    EXPECT_TRUE(dc.warnings.empty());
}

TEST(DomainConfigDefaults, FullConfig) {
    DomainConfig dc = convert(R"(
name = "web1"
uuid = "3fa85f64-5717-4562-B3FC-2c963f66afa6"
type = "pvh"
kernel = "/srv/vmlinuz"
ramdisk = "/srv/initrd.img"
cmdline = "console=hvc0 root=/dev/xvda1"
memory = 1024
maxmem = 0x800
vcpus = 2
maxvcpus = 4
cpus = "0-3,^2"
cpus_soft = ["4", 5]
on_poweroff = "preserve"
on_reboot = "rename-restart"
on_crash = "coredump-restart"
pool = "Pool-web"
cpu_weight = 512
cap = 150
disk = [ 'phy:/dev/vg/web1,xvda,w' ]
vif = [ 'bridge=xenbr0', 'mac=00:16:3e:00:00:01' ]
vfb = [ 'vnc=1' ]
channel = [ 'name=org.qemu.guest_agent.0' ]
p9 = [ 'tag=share,path=/srv/share' ]
pci = [ '01:00.0' ]
)");
    EXPECT_EQ(dc.name, "web1");
    ASSERT_TRUE(dc.uuid.has_value());
    EXPECT_EQ((*dc.uuid)[0], 0x3f);
    EXPECT_EQ((*dc.uuid)[8], 0xb3);
    EXPECT_EQ((*dc.uuid)[15], 0xa6);
    EXPECT_EQ(dc.type, DomainType::Pvh);
    EXPECT_EQ(dc.ramdisk, "/srv/initrd.img");
    EXPECT_EQ(dc.cmdline, "console=hvc0 root=/dev/xvda1");
    EXPECT_EQ(dc.memory_mib, 1024u);
    EXPECT_EQ(dc.maxmem_mib, 2048u);
    EXPECT_EQ(dc.vcpus, 2u);
    EXPECT_EQ(dc.maxvcpus, 4u);
    ASSERT_TRUE(dc.cpus.has_value());
    EXPECT_FALSE(dc.cpus->per_vcpu);
    EXPECT_EQ(dc.cpus->for_vcpu(3)->cpus(), (std::vector<unsigned>{0, 1, 3}));
    ASSERT_TRUE(dc.cpus_soft.has_value());
    EXPECT_TRUE(dc.cpus_soft->per_vcpu);
    EXPECT_EQ(dc.cpus_soft->for_vcpu(0)->cpus(), (std::vector<unsigned>{4}));
    EXPECT_EQ(dc.cpus_soft->for_vcpu(1)->cpus(), (std::vector<unsigned>{5}));
    EXPECT_EQ(dc.cpus_soft->for_vcpu(2), nullptr);
    EXPECT_EQ(dc.on_poweroff, ShutdownAction::Preserve);
    EXPECT_EQ(dc.on_reboot, ShutdownAction::RenameRestart);
    EXPECT_EQ(dc.on_crash, ShutdownAction::CoredumpRestart);
    EXPECT_EQ(dc.pool, "Pool-web");
    EXPECT_EQ(dc.weight, 512u);
    EXPECT_EQ(dc.cap, 150u);
    EXPECT_EQ(specs(dc.disks), (std::vector<std::string>{"phy:/dev/vg/web1,xvda,w"}));
    EXPECT_EQ(specs(dc.vifs), (std::vector<std::string>{"bridge=xenbr0", "mac=00:16:3e:00:00:01"}));
    EXPECT_EQ(specs(dc.vfbs), (std::vector<std::string>{"vnc=1"}));
    EXPECT_EQ(specs(dc.channels), (std::vector<std::string>{"name=org.qemu.guest_agent.0"}));
    EXPECT_EQ(specs(dc.p9s), (std::vector<std::string>{"tag=share,path=/srv/share"}));
    EXPECT_EQ(specs(dc.pcis), (std::vector<std::string>{"01:00.0"}));
    EXPECT_EQ(dc.vifs[1].pos.to_string(), "d.cfg:21:26");
    ASSERT_EQ(dc.disk_configs.size(), 1u);
    EXPECT_EQ(dc.disk_configs[0].target, "/dev/vg/web1");
    EXPECT_EQ(dc.disk_configs[0].devid, 51712u);
    ASSERT_EQ(dc.vif_configs.size(), 2u);
    EXPECT_EQ(dc.vif_configs[0].bridge, "xenbr0");
    EXPECT_EQ(dc.vif_configs[1].devid, 1u);
    EXPECT_TRUE(dc.warnings.empty());
}

TEST(DomainConfigName, IsRequired) {
    EXPECT_EQ(error_of("kernel = '/k'\n"), "d.cfg: missing required key 'name'");
}

TEST(DomainConfigName, MustBeSane) {
    EXPECT_EQ(error_of("name = ['a']\nkernel='k'\n"),
              "d.cfg:1:8: name: expected a string, got a list");
    EXPECT_EQ(error_of("name = ''\nkernel='k'\n"), "d.cfg:1:8: name: must not be empty");
    EXPECT_EQ(error_of("name = 'a/b'\nkernel='k'\n"),
              "d.cfg:1:8: name: 'a/b' must not contain '/'");
    EXPECT_EQ(error_of("name = 'a b'\nkernel='k'\n"),
              "d.cfg:1:8: name: 'a b' must contain only printable ASCII characters, no spaces");
    EXPECT_EQ(error_of("name = 'a\\tb'\nkernel='k'\n"),
              "d.cfg:1:8: name: 'a\\x09b' must contain only printable ASCII characters, no spaces");
    EXPECT_EQ(error_of("name = '-x'\nkernel='k'\n"),
              "d.cfg:1:8: name: '-x' must not start with '-'");
    EXPECT_EQ(error_of("name = '123'\nkernel='k'\n"),
              "d.cfg:1:8: name: '123' is all digits, which reads as a domain ID");
    EXPECT_EQ(error_of("name = 42\nkernel='k'\n"),
              "d.cfg:1:8: name: '42' is all digits, which reads as a domain ID");
    EXPECT_EQ(error_of("name = 'Domain-0'\nkernel='k'\n"),
              "d.cfg:1:8: name: 'Domain-0' is reserved for the host");
    const std::string long_name(kMaxNameLength + 1, 'n');
    EXPECT_EQ(error_of("name = '" + long_name + "'\nkernel='k'\n"),
              "d.cfg:1:8: name: '" + std::string(40, 'n') + "...' is longer than 64 characters");
    EXPECT_EQ(
        convert("name = '" + std::string(kMaxNameLength, 'n') + "'\nkernel='k'\n").name.size(),
        kMaxNameLength);
    EXPECT_EQ(convert("name = 'web-1.example_2'\nkernel='k'\n").name, "web-1.example_2");
}

TEST(DomainConfigUuid, AcceptsTheCanonicalFormOnly) {
    DomainConfig dc = with("uuid = '00112233-4455-6677-8899-aabbccddeeff'\n");
    ASSERT_TRUE(dc.uuid.has_value());
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ((*dc.uuid)[i], i * 0x11) << i;
    const std::string why = " is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
    EXPECT_EQ(error_with("uuid = '00112233445566778899aabbccddeeff'\n"),
              "d.cfg:3:8: uuid: '00112233445566778899aabbccddeeff'" + why);
    EXPECT_EQ(error_with("uuid = '00112233-4455-6677-8899-aabbccddeefg'\n"),
              "d.cfg:3:8: uuid: '00112233-4455-6677-8899-aabbccddeefg'" + why);
    EXPECT_EQ(error_with("uuid = '0011223-44556-6677-8899-aabbccddeeff'\n"),
              "d.cfg:3:8: uuid: '0011223-44556-6677-8899-aabbccddeeff'" + why);
    EXPECT_EQ(error_with("uuid = '+0112233-4455-6677-8899-aabbccddeeff'\n"),
              "d.cfg:3:8: uuid: '+0112233-4455-6677-8899-aabbccddeeff'" + why);
    EXPECT_EQ(error_with("uuid = 5\n"), "d.cfg:3:8: uuid: '5'" + why);
}

TEST(DomainConfigType, TypeAndLegacyBuilder) {
    EXPECT_EQ(with("type = 'pv'\n").type, DomainType::Pv);
    EXPECT_EQ(with("type = 'pvh'\n").type, DomainType::Pvh);
    EXPECT_EQ(with("type = 'hvm'\n").type, DomainType::Hvm);
    EXPECT_EQ(error_with("type = 'PV'\n"), "d.cfg:3:8: type: 'PV' is not one of pv, pvh or hvm");
    EXPECT_EQ(error_with("type = ['pv']\n"), "d.cfg:3:8: type: expected a string, got a list");

    DomainConfig hvm = with("builder = 'hvm'\n");
    EXPECT_EQ(hvm.type, DomainType::Hvm);
    EXPECT_EQ(hvm.warnings,
              (std::vector<std::string>{"d.cfg:3: warning: builder= is deprecated; use type="}));
    EXPECT_EQ(with("builder = 'generic'\n").type, DomainType::Pv);
    EXPECT_EQ(error_with("builder = 'pvh'\n"),
              "d.cfg:3:11: builder: 'pvh' is not one of generic or hvm");

    DomainConfig both = with("builder = 'hvm'\ntype = 'pvh'\n");
    EXPECT_EQ(both.type, DomainType::Pvh);
    EXPECT_EQ(both.warnings,
              (std::vector<std::string>{"d.cfg:3: warning: builder= ignored in favour of type="}));
}

TEST(DomainConfigKernel, RequiredForPvAndPvhOnly) {
    EXPECT_EQ(error_of("name = 'a'\n"),
              "d.cfg: missing required key 'kernel' (a pv domain boots a kernel image)");
    EXPECT_EQ(error_of("name = 'a'\ntype = 'pvh'\n"),
              "d.cfg: missing required key 'kernel' (a pvh domain boots a kernel image)");
    EXPECT_EQ(convert("name = 'a'\ntype = 'hvm'\n").kernel, "");
    EXPECT_EQ(error_of("name = 'a'\nkernel = ['k']\n"),
              "d.cfg:2:10: kernel: expected a string, got a list");
    EXPECT_EQ(with("ramdisk = '/boot/initrd'\n").ramdisk, "/boot/initrd");
    EXPECT_EQ(error_with("ramdisk = []\n"), "d.cfg:3:11: ramdisk: expected a string, got a list");
}

TEST(DomainConfigCmdline, CombinesRootAndExtraAsXl) {
    EXPECT_EQ(with("root = '/dev/xvda1 ro'\nextra = 'console=hvc0'\n").cmdline,
              "root=/dev/xvda1 ro console=hvc0");
    EXPECT_EQ(with("root = '/dev/xvda1'\n").cmdline, "root=/dev/xvda1");
    EXPECT_EQ(with("extra = 'console=hvc0'\n").cmdline, "console=hvc0");
    EXPECT_EQ(with("cmdline = 'quiet'\n").cmdline, "quiet");

    DomainConfig dc = with("root = '/dev/xvda1'\ncmdline = 'quiet'\nextra = 'x'\n");
    EXPECT_EQ(dc.cmdline, "quiet");
    EXPECT_EQ(dc.warnings,
              (std::vector<std::string>{
                  "d.cfg:4: warning: root= and extra= ignored in favour of cmdline="}));
    EXPECT_EQ(error_with("extra = ['a']\n"), "d.cfg:3:9: extra: expected a string, got a list");
    EXPECT_EQ(error_with("root = []\n"), "d.cfg:3:8: root: expected a string, got a list");
    EXPECT_EQ(error_with("cmdline = []\n"), "d.cfg:3:11: cmdline: expected a string, got a list");
}

TEST(DomainConfigCmdline, ExtraGrowsWithPlusEquals) {
    EXPECT_EQ(with("extra = 'console=hvc0'\nextra += ' loglevel=8'\n").cmdline,
              "console=hvc0 loglevel=8");
}

TEST(DomainConfigMemory, ValuesAndMaxmemDefault) {
    DomainConfig dc = with("memory = 512\n");
    EXPECT_EQ(dc.memory_mib, 512u);
    EXPECT_EQ(dc.maxmem_mib, 512u);
    dc = with("memory = '256'\nmaxmem = 1024\n");  // xl reads quoted numbers too
    EXPECT_EQ(dc.memory_mib, 256u);
    EXPECT_EQ(dc.maxmem_mib, 1024u);
    EXPECT_EQ(with("memory = 0x100\n").memory_mib, 256u);
    EXPECT_EQ(with("memory = 0100\n").memory_mib, 64u);  // octal, as xl's strtol reads it
    EXPECT_EQ(with("memory = 16777216\n").memory_mib, kMaxMemoryMib);
}

TEST(DomainConfigMemory, Validation) {
    EXPECT_EQ(error_with("memory = 0\n"),
              "d.cfg:3:10: memory: 0 is out of range (must be 1 to 16777216 MiB)");
    EXPECT_EQ(error_with("memory = 16777217\n"),
              "d.cfg:3:10: memory: 16777217 is out of range (must be 1 to 16777216 MiB)");
    EXPECT_EQ(error_with("memory = 99999999999999999999999\n"),
              "d.cfg:3:10: memory: 99999999999999999999999 is out of range (must be 1 to "
              "16777216 MiB)");
    EXPECT_EQ(error_with("memory = '1G'\n"),
              "d.cfg:3:10: memory: expected an integer, got string \"1G\"");
    EXPECT_EQ(error_with("memory = ' 5'\n"),
              "d.cfg:3:10: memory: expected an integer, got string \" 5\"");
    EXPECT_EQ(error_with("memory = [512]\n"),
              "d.cfg:3:10: memory: expected an integer, got a list");
    EXPECT_EQ(error_with("memory = 512\nmaxmem = 256\n"),
              "d.cfg:4:10: maxmem: 256 is less than memory (512 MiB); maxmem must be at least "
              "memory");
    EXPECT_EQ(
        error_with("maxmem = 16\n"),
        "d.cfg:3:10: maxmem: 16 is less than memory (32 MiB); maxmem must be at least memory");
    EXPECT_EQ(error_with("maxmem = 0\n"),
              "d.cfg:3:10: maxmem: 0 is out of range (must be 1 to 16777216 MiB)");
}

TEST(DomainConfigVcpus, ValuesAndDefaults) {
    DomainConfig dc = with("vcpus = 4\n");
    EXPECT_EQ(dc.vcpus, 4u);
    EXPECT_EQ(dc.maxvcpus, 4u);
    dc = with("maxvcpus = 8\n");
    EXPECT_EQ(dc.vcpus, 1u);
    EXPECT_EQ(dc.maxvcpus, 8u);
    dc = with("vcpus = 2\nmaxvcpus = 512\n");
    EXPECT_EQ(dc.maxvcpus, kMaxVcpus);
}

TEST(DomainConfigVcpus, Validation) {
    EXPECT_EQ(error_with("vcpus = 0\n"), "d.cfg:3:9: vcpus: 0 is out of range (must be 1 to 512)");
    EXPECT_EQ(error_with("vcpus = 513\n"),
              "d.cfg:3:9: vcpus: 513 is out of range (must be 1 to 512)");
    EXPECT_EQ(error_with("maxvcpus = 1000\n"),
              "d.cfg:3:12: maxvcpus: 1000 is out of range (must be 1 to 512)");
    EXPECT_EQ(error_with("vcpus = 4\nmaxvcpus = 2\n"),
              "d.cfg:4:12: maxvcpus: 2 is less than vcpus (4); maxvcpus must be at least vcpus");
    EXPECT_EQ(error_with("vcpus = 'two'\n"),
              "d.cfg:3:9: vcpus: expected an integer, got string \"two\"");
}

TEST(DomainConfigCpus, CpuListSyntax) {
    std::string error;
    auto cpus = [&](std::string_view text) {
        std::optional<CpuSet> set = parse_cpu_list(text, error);
        return set ? set->cpus() : std::vector<unsigned>{9999};
    };
    EXPECT_EQ(cpus("0-3,^2"), (std::vector<unsigned>{0, 1, 3}));
    EXPECT_EQ(cpus("0-3,5,^1"), (std::vector<unsigned>{0, 2, 3, 5}));
    EXPECT_EQ(cpus("7"), (std::vector<unsigned>{7}));
    EXPECT_EQ(cpus(" 1 , 3 - 4 "), (std::vector<unsigned>{1, 3, 4}));
    EXPECT_EQ(cpus("^2,0-3"), (std::vector<unsigned>{0, 1, 2, 3}));  // applied left to right
    EXPECT_EQ(cpus("4095"), (std::vector<unsigned>{4095}));

    std::optional<CpuSet> all = parse_cpu_list("all", error);
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->is_all());
    EXPECT_EQ(all->count(), kMaxHostCpus);
    std::optional<CpuSet> all_but = parse_cpu_list("all,^7,^100-4095", error);
    ASSERT_TRUE(all_but);
    EXPECT_EQ(all_but->count(), 99u);
    EXPECT_FALSE(all_but->contains(7));
    EXPECT_TRUE(all_but->contains(8));
    EXPECT_FALSE(all_but->contains(100));
    EXPECT_FALSE(all_but->contains(5000));

    auto error_for = [&](std::string_view text) {
        return parse_cpu_list(text, error) ? std::string("no error") : error;
    };
    EXPECT_EQ(error_for(""), "it is empty");
    EXPECT_EQ(error_for("1,,2"), "an item is empty");
    EXPECT_EQ(error_for("1,"), "an item is empty");
    EXPECT_EQ(error_for("^"), "an item is empty");
    EXPECT_EQ(error_for("3-1"), "'3-1' is a backwards range");
    EXPECT_EQ(error_for("x"), "'x' is not a CPU number");
    EXPECT_EQ(error_for("1-"), "'' is not a CPU number");
    EXPECT_EQ(error_for("-1"), "'' is not a CPU number");
    EXPECT_EQ(error_for("1-2-3"), "'2-3' is not a CPU number");
    EXPECT_EQ(error_for("4096"), "CPU 4096 is beyond the limit of 4095");
    EXPECT_EQ(error_for("99999999999"), "'99999999999' is not a CPU number");
    EXPECT_EQ(error_for("node:1"), "'node:1': NUMA node items are not supported yet");
    EXPECT_EQ(error_for("nodes:0-3"), "'nodes:0-3': NUMA node items are not supported yet");
}

TEST(DomainConfigCpus, StringAppliesToEveryVcpuListGivesEachItsOwn) {
    DomainConfig dc = with("vcpus = 3\ncpus = 'all'\n");
    ASSERT_TRUE(dc.cpus);
    EXPECT_FALSE(dc.cpus->per_vcpu);
    EXPECT_TRUE(dc.cpus->for_vcpu(2)->is_all());

    dc = with("vcpus = 3\ncpus = [0, 2]\ncpus_soft = ['1-2', '^0,all']\n");
    ASSERT_TRUE(dc.cpus);
    EXPECT_TRUE(dc.cpus->per_vcpu);
    EXPECT_EQ(dc.cpus->for_vcpu(0)->cpus(), (std::vector<unsigned>{0}));
    EXPECT_EQ(dc.cpus->for_vcpu(1)->cpus(), (std::vector<unsigned>{2}));
    EXPECT_EQ(dc.cpus->for_vcpu(2), nullptr);
    EXPECT_EQ(dc.cpus_soft->for_vcpu(0)->cpus(), (std::vector<unsigned>{1, 2}));
    EXPECT_TRUE(dc.cpus_soft->for_vcpu(1)->is_all());
    EXPECT_EQ(with("cpus = 3\n").cpus->for_vcpu(0)->cpus(), (std::vector<unsigned>{3}));
    EXPECT_EQ(with("cpus = []\n").cpus->for_vcpu(0), nullptr);
}

TEST(DomainConfigCpus, Validation) {
    EXPECT_EQ(error_with("cpus = '0-3,^x'\n"),
              "d.cfg:3:8: cpus: invalid CPU list '0-3,^x': 'x' is not a CPU number");
    EXPECT_EQ(error_with("cpus = '0,^0'\n"), "d.cfg:3:8: cpus: '0,^0' selects no CPUs");
    EXPECT_EQ(error_with("cpus_soft = ['1', '9-2']\n"),
              "d.cfg:3:19: cpus_soft: invalid CPU list '9-2': '9-2' is a backwards range");
    EXPECT_EQ(error_with("cpus = ['1', ['2']]\n"),
              "d.cfg:3:14: cpus: expected a CPU list string, got a list");
    std::string many = "cpus = [";
    for (unsigned i = 0; i <= kMaxVcpus; ++i) many += "0,";
    EXPECT_EQ(error_with(many + "]\n"),
              "d.cfg:3:8: cpus: the list has 513 entries, more than the 512 vCPUs a domain may "
              "have");
}

TEST(DomainConfigCpus, MoreEntriesThanVcpusWarn) {
    DomainConfig dc = with("vcpus = 2\ncpus = ['0', '1', '2']\n");
    EXPECT_EQ(dc.warnings, (std::vector<std::string>{
                               "d.cfg:4: warning: cpus lists 3 vCPUs but maxvcpus is 2; the extra "
                               "entries are ignored"}));
}

TEST(DomainConfigActions, AllActionsAndErrors) {
    const std::pair<const char*, ShutdownAction> cases[] = {
        {"destroy", ShutdownAction::Destroy},
        {"restart", ShutdownAction::Restart},
        {"rename-restart", ShutdownAction::RenameRestart},
        {"preserve", ShutdownAction::Preserve},
        {"coredump-destroy", ShutdownAction::CoredumpDestroy},
        {"coredump-restart", ShutdownAction::CoredumpRestart},
        {"soft-reset", ShutdownAction::SoftReset},
    };
    for (const auto& [spelling, action] : cases) {
        const std::string s = spelling;
        DomainConfig dc =
            with("on_poweroff = '" + s + "'\non_reboot = '" + s + "'\non_crash = '" + s + "'\n");
        EXPECT_EQ(dc.on_poweroff, action) << s;
        EXPECT_EQ(dc.on_reboot, action) << s;
        EXPECT_EQ(dc.on_crash, action) << s;
        EXPECT_EQ(to_string(action), s);
    }
    const std::string choices =
        " is not one of destroy, restart, rename-restart, preserve, coredump-destroy, "
        "coredump-restart or soft-reset";
    EXPECT_EQ(error_with("on_crash = 'reboot'\n"), "d.cfg:3:12: on_crash: 'reboot'" + choices);
    EXPECT_EQ(error_with("on_reboot = 1\n"), "d.cfg:3:13: on_reboot: '1'" + choices);
    EXPECT_EQ(error_with("on_poweroff = []\n"),
              "d.cfg:3:15: on_poweroff: expected a string, got a list");
}

TEST(DomainConfigTypeNames, ToString) {
    EXPECT_EQ(to_string(DomainType::Pv), "pv");
    EXPECT_EQ(to_string(DomainType::Pvh), "pvh");
    EXPECT_EQ(to_string(DomainType::Hvm), "hvm");
}

TEST(DomainConfigScheduling, PoolWeightAndCap) {
    EXPECT_EQ(with("pool = 'Pool-0'\n").pool, "Pool-0");
    EXPECT_EQ(error_with("pool = ''\n"), "d.cfg:3:8: pool: must not be empty");
    EXPECT_EQ(error_with("pool = ['a']\n"), "d.cfg:3:8: pool: expected a string, got a list");

    EXPECT_EQ(with("cpu_weight = 1\n").weight, 1u);
    EXPECT_EQ(with("weight = 65535\n").weight, 65535u);
    EXPECT_EQ(error_with("cpu_weight = 0\n"),
              "d.cfg:3:14: cpu_weight: 0 is out of range (must be 1 to 65535)");
    EXPECT_EQ(error_with("weight = 65536\n"),
              "d.cfg:3:10: weight: 65536 is out of range (must be 1 to 65535)");
    EXPECT_EQ(error_with("cpu_weight = 256\nweight = 256\n"),
              "d.cfg:4:1: weight: cpu_weight is also set (at d.cfg:3:1) and means the same; use "
              "only one");

    EXPECT_EQ(with("cap = 0\n").cap, 0u);
    EXPECT_EQ(with("cap = 400\n").cap, 400u);
    EXPECT_EQ(error_with("cap = 65536\n"),
              "d.cfg:3:7: cap: 65536 is out of range (must be 0 to 65535 percent)");
    EXPECT_EQ(error_with("cap = 'x'\n"), "d.cfg:3:7: cap: expected an integer, got string \"x\"");
}

TEST(DomainConfigDevices, ListsOfStringsKeptRawWithPositions) {
    DomainConfig dc = with("vfb = [ 'a', 7,\n  'c' ]\nvif = []\n");
    EXPECT_EQ(specs(dc.vfbs), (std::vector<std::string>{"a", "7", "c"}));
    EXPECT_EQ(dc.vfbs[2].pos.to_string(), "d.cfg:4:3");
    EXPECT_TRUE(dc.vifs.empty());
    EXPECT_TRUE(dc.vif_configs.empty());
    for (const char* key : {"disk", "vif", "vfb", "channel", "p9", "pci"}) {
        const std::string k = key;
        const std::string column = std::to_string(k.size() + 4);
        EXPECT_EQ(error_with(k + " = 'x'\n"), "d.cfg:3:" + column + ": " + k +
                                                  ": expected a list of strings, got string \"x\"");
        EXPECT_EQ(error_with(k + " = 5\n"),
                  "d.cfg:3:" + column + ": " + k + ": expected a list of strings, got number 5");
        EXPECT_EQ(error_with(k + " = [['x']]\n"), "d.cfg:3:" + std::to_string(k.size() + 5) + ": " +
                                                      k + ": expected a string, got a list");
    }
}

TEST(DomainConfigWarnings, UnknownKeysAreWarnedNotFatal) {
    DomainConfig dc = with("vnc = 1\nbootloader = 'pygrub'\n# comment\non_watchdog = 'destroy'\n");
    EXPECT_EQ(dc.warnings, (std::vector<std::string>{
                               "d.cfg:3: warning: unknown key 'vnc' ignored",
                               "d.cfg:4: warning: unknown key 'bootloader' ignored",
                               "d.cfg:6: warning: unknown key 'on_watchdog' ignored",
                           }));
}

TEST(DomainConfigOverrides, CommandLineSettingsWinAndAreNamedInMessages) {
    Config config = Config::parse(std::string(kMinimal) + "memory = 128\n", "d.cfg");
    config.apply_override("memory=256; vcpus=2");
    DomainConfig dc = to_domain_config(config);
    EXPECT_EQ(dc.memory_mib, 256u);
    EXPECT_EQ(dc.vcpus, 2u);

    config.apply_override("maxmem=100");
    try {
        to_domain_config(config);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(),
                     "<command line>:1:8: maxmem: 100 is less than memory (256 MiB); maxmem must "
                     "be at least memory");
    }
    config.apply_override("maxmem=1024; colour='red'");
    EXPECT_EQ(
        to_domain_config(config).warnings,
        (std::vector<std::string>{"<command line>:1: warning: unknown key 'colour' ignored"}));
}

TEST(DomainConfigEventChannels, MaxEventChannelsDefaultsToXlsAndIsBounded) {
    EXPECT_EQ(with("").max_event_channels, 1023u);
    EXPECT_EQ(with("max_event_channels = 64\n").max_event_channels, 64u);
    EXPECT_EQ(with("max_event_channels = 4095\n").max_event_channels, 4095u);
    EXPECT_NE(error_with("max_event_channels = 4096\n").find("d.cfg:3:"), std::string::npos);
    EXPECT_NE(error_with("max_event_channels = 0\n").find("d.cfg:3:"), std::string::npos);
    EXPECT_NE(error_with("max_event_channels = 'lots'\n").find("d.cfg:3:"), std::string::npos);
}

}  // namespace
}  // namespace xenolith::xlcfg
