// xn: Xenolith's xl-compatible command line. `xn run` boots one guest without a daemon;
// every other command talks to xenolithd, starting it when needed.
#include <CLI/CLI.hpp>

#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/run.hpp"
#include "toolstack/xn/sched_commands.hpp"

int main(int argc, char** argv) {
    using namespace xenolith::xn;
    CLI::App app{"xn: the Xenolith toolstack (xl-compatible commands for Xen guests on KVM)"};
    app.require_subcommand(1);
    app.set_version_flag("-V,--version", "xn 0.1 (Xen 4.17 ABI)");
    app.set_help_all_flag("--help-all", "all commands with their options");
    app.footer("Commands other than run start xenolithd when it is not running.");

    RunOptions run;
    auto* run_cmd = app.add_subcommand(
        "run",
        "Boot one guest from an xl.cfg without a daemon; console on stdout; exit with "
        "the guest's exit status (124: crashed, 125: could not start)");
    run_cmd->add_option("config", run.config_path, "xl.cfg file")->required();
    run_cmd->add_option("overrides", run.overrides, "KEY=VALUE settings applied after the file");
    run_cmd->add_flag("-q,--quiet", run.quiet, "no progress lines on stderr");
    run_cmd->add_option("--xenstore-socket", run.xenstore_socket,
                        "serve xenstore on this unix socket (for xenstore-ls with XENSTORED_PATH)");
    run_cmd
        ->add_option("--console-log", run.console_log_dir,
                     "also append the console to DIR/guest-<name>.log")
        ->check(CLI::ExistingDirectory);

    CreateOptions create;
    auto* create_cmd = app.add_subcommand("create", "Create a domain from a config file");
    create_cmd->add_option("config", create.config_path, "xl.cfg file")->required();
    create_cmd->add_option("overrides", create.overrides,
                           "KEY=VALUE settings applied after the file");
    create_cmd->add_flag("-c", create.console, "attach to the console after creating");
    create_cmd->add_flag("-p", create.paused, "leave the domain paused after creating it");

    std::vector<std::string> doms;
    bool long_form = false, verbose = false;
    auto* list_cmd = app.add_subcommand("list", "List information about all or some domains");
    list_cmd->alias("li");
    list_cmd->add_option("domain", doms, "names or domids");
    list_cmd->add_flag("-l,--long", long_form, "the domains' configurations and counters as JSON");
    list_cmd->add_flag("-v,--verbose", verbose, "add UUID and shutdown reason columns");

    std::string dom, arg2, arg3, arg4;
    auto* destroy_cmd = app.add_subcommand("destroy", "Terminate a domain immediately");
    destroy_cmd->add_option("domain", dom)->required();

    bool save_keep = false, restore_paused = false;
    std::string save_file;
    auto* save_cmd =
        app.add_subcommand("save", "Save a domain's state to a file, to restore later");
    save_cmd->add_option("domain", dom)->required();
    save_cmd->add_option("file", save_file)->required();
    save_cmd->add_flag("-c", save_keep, "leave the domain running after saving it");
    auto* restore_cmd = app.add_subcommand("restore", "Restore a domain from a saved state file");
    restore_cmd->add_option("file", save_file)->required();
    restore_cmd->add_flag("-p", restore_paused, "leave the domain paused after restoring it");

    std::string migrate_target;
    auto* migrate_cmd = app.add_subcommand(
        "migrate",
        "Move a domain to the xenolithd listening at [tcp:]HOST:PORT (--migrate-listen)");
    migrate_cmd->add_option("domain", dom)->required();
    migrate_cmd->add_option("target", migrate_target, "[tcp:]HOST:PORT")->required();
    bool migrate_live = false;
    migrate_cmd->add_flag("--live", migrate_live,
                          "Copy memory while the guest runs, then pause it only for the rest");

    ShutdownOptions shut;
    auto add_shutdown = [&](const char* name, const char* what) {
        auto* c = app.add_subcommand(name, what);
        c->add_option("domain", shut.domains);
        c->add_flag("-a,--all", shut.all, "all guest domains");
        c->add_flag("-w,--wait", shut.wait, "wait until shut down (twice: until destroyed)");
        return c;
    };
    auto* shutdown_cmd =
        add_shutdown("shutdown", "Ask a domain to shut down (control/shutdown = poweroff)");
    auto* reboot_cmd = add_shutdown("reboot", "Ask a domain to reboot (control/shutdown = reboot)");

    auto* pause_cmd = app.add_subcommand("pause", "Pause execution of a domain");
    pause_cmd->add_option("domain", dom)->required();
    auto* unpause_cmd = app.add_subcommand("unpause", "Unpause a paused domain");
    unpause_cmd->add_option("domain", dom)->required();
    auto* console_cmd =
        app.add_subcommand("console", "Attach to a domain's console (Ctrl-] detaches)");
    console_cmd->add_option("domain", dom)->required();
    std::string gdb_endpoint;
    auto* debug_cmd =
        app.add_subcommand("debug",
                           "Debug a running domain from outside: a gdb server (--gdb; the domain "
                           "stops until gdb detaches) or its vCPUs' registers (--context)");
    debug_cmd->add_option("domain", dom)->required();
    auto* gdb_opt = debug_cmd->add_option(
        "--gdb", gdb_endpoint,
        "where gdb connects: tcp:127.0.0.1:PORT (PORT 0 picks one) or unix:PATH");
    bool debug_context = false;
    debug_cmd
        ->add_flag("--context", debug_context,
                   "print each vCPU's registers and the code at its RIP, as xenctx does, and "
                   "let the domain run on")
        ->excludes(gdb_opt);
    TraceOptions trace_opts;
    auto* trace_cmd =
        app.add_subcommand("trace", "Print a domain's hypercalls or system calls as it makes them");
    trace_cmd->add_option("domain", trace_opts.domain)->required();
    auto* hypercalls_flag =
        trace_cmd->add_flag("--hypercalls", trace_opts.hypercalls,
                            "one line per hypercall: vCPU, name, decoded arguments, result");
    trace_cmd
        ->add_flag("--syscalls", trace_opts.syscalls,
                   "one line per system call of a PVH Linux guest: vCPU, CR3, user RIP, call")
        ->excludes(hypercalls_flag);
    trace_cmd->add_option("--max", trace_opts.max, "stop after this many lines");
    VmiProtectOptions protect;
    auto* vmi_cmd = app.add_subcommand("vmi", "Introspection tools (docs/vmi.md)");
    vmi_cmd->require_subcommand(1);
    auto* protect_cmd = vmi_cmd->add_subcommand(
        "protect", "Report (or, with --crash, stop) the guest's writes to some of its memory");
    protect_cmd->add_option("domain", protect.domain)->required();
    protect_cmd
        ->add_option("target", protect.target,
                     "ADDRESS (hex, guest-virtual) or SYMBOL of the domain's kernel")
        ->required();
    protect_cmd->add_option("--length", protect.length,
                            "bytes to watch (default: 1, or the symbol's size)");
    protect_cmd->add_flag("--physical", protect.physical, "ADDRESS is guest-physical");
    protect_cmd->add_flag("--crash", protect.crash, "crash the domain at the first write");
    auto* rename_cmd = app.add_subcommand("rename", "Rename a domain");
    rename_cmd->add_option("domain", dom)->required();
    rename_cmd->add_option("new-name", arg2)->required();
    auto* domid_cmd = app.add_subcommand("domid", "Convert a domain name to a domain id");
    domid_cmd->add_option("name", dom)->required();
    auto* domname_cmd = app.add_subcommand("domname", "Convert a domain id to a domain name");
    domname_cmd->add_option("domid", dom)->required();

    bool short_form = false;
    auto* uptime_cmd = app.add_subcommand("uptime", "Print the uptime of all or some domains");
    uptime_cmd->add_option("domain", doms);
    uptime_cmd->add_flag("-s", short_form, "short form");
    auto* info_cmd = app.add_subcommand("info", "Print information about the host");
    bool clear = false;
    std::string debug_keys;
    auto* debug_keys_cmd = app.add_subcommand(
        "debug-keys",
        "Dump hypervisor state into the message buffer: q vCPUs and rings, e event channels");
    debug_keys_cmd->add_option("keys", debug_keys)->required();
    auto* dmesg_cmd =
        app.add_subcommand("dmesg", "Read and/or clear the hypervisor's message buffer");
    dmesg_cmd->add_flag("-c,--clear", clear, "clear the buffer after reading it");
    auto* vcpu_list_cmd = app.add_subcommand("vcpu-list", "List the vCPUs of all or some domains");
    vcpu_list_cmd->add_option("domain", doms);
    auto* vcpu_pin_cmd = app.add_subcommand(
        "vcpu-pin", "Set which host CPUs a vCPU may (hard) or prefers to (soft) run on");
    vcpu_pin_cmd->add_option("domain", dom)->required();
    vcpu_pin_cmd->add_option("vcpu", arg2, "vCPU number or 'all'")->required();
    vcpu_pin_cmd->add_option("cpus-hard", arg3, "CPU list, or - to leave as is")->required();
    vcpu_pin_cmd->add_option("cpus-soft", arg4, "CPU list, or - to leave as is");
    auto* vcpu_set_cmd =
        app.add_subcommand("vcpu-set", "Set the number of online vCPUs (up to maxvcpus)");
    vcpu_set_cmd->add_option("domain", dom)->required();
    vcpu_set_cmd->add_option("count", arg2)->required();
    auto* mem_set_cmd =
        app.add_subcommand("mem-set", "Set a domain's memory target (balloon), e.g. 256m");
    mem_set_cmd->add_option("domain", dom)->required();
    mem_set_cmd->add_option("size", arg2, "a size with b/k/m/g/t suffix; MiB if none")->required();
    auto* mem_max_cmd = app.add_subcommand("mem-max", "Set a domain's maximum memory");
    mem_max_cmd->add_option("domain", dom)->required();
    mem_max_cmd->add_option("size", arg2, "a size with b/k/m/g/t suffix; MiB if none")->required();

    std::vector<std::string> spec;
    bool force = false;
    auto* block_attach_cmd =
        app.add_subcommand("block-attach", "Attach a disk to a running domain (an xl disk spec)");
    block_attach_cmd->add_option("domain", dom)->required();
    block_attach_cmd
        ->add_option("disk-spec", spec, "xl disk spec, e.g. target=/img,vdev=xvdb,access=rw")
        ->required();
    auto* block_detach_cmd =
        app.add_subcommand("block-detach", "Detach a disk from a running domain");
    block_detach_cmd->add_option("domain", dom)->required();
    block_detach_cmd->add_option("device", arg2, "vdev (xvdb) or device id")->required();
    block_detach_cmd->add_flag("--force", force, "do not wait for the guest to let go");
    auto* block_list_cmd = app.add_subcommand("block-list", "List a domain's disks");
    block_list_cmd->add_option("domain", doms)->required();

    auto* network_attach_cmd = app.add_subcommand(
        "network-attach", "Attach a network interface to a running domain (an xl vif spec)");
    network_attach_cmd->add_option("domain", dom)->required();
    network_attach_cmd->add_option("vif-spec", spec,
                                   "xl vif spec items, e.g. mac=00:16:3e:00:00:01 forward=8081:80");
    auto* network_detach_cmd =
        app.add_subcommand("network-detach", "Detach a network interface from a running domain");
    network_detach_cmd->add_option("domain", dom)->required();
    network_detach_cmd->add_option("device", arg2, "device id or MAC address")->required();
    network_detach_cmd->add_flag("--force", force, "do not wait for the guest to let go");
    auto* network_list_cmd =
        app.add_subcommand("network-list", "List a domain's network interfaces");
    network_list_cmd->add_option("domain", doms)->required();

    TopOptions top;
    auto* top_cmd = app.add_subcommand("top", "Monitor domains live (xentop)");
    top_cmd->add_option("-d,--delay", top.delay_s, "seconds between updates")
        ->check(CLI::Range(0.1, 3600.0));
    top_cmd->add_flag("-b,--batch", top.batch,
                      "batch mode: no screen clearing, for logs and scripts");
    top_cmd
        ->add_option("-i,--iterations", top.iterations,
                     "updates before exiting (0: until interrupted)")
        ->check(CLI::NonNegativeNumber);
    top_cmd->add_flag("-f,--full-name", top.full_names, "do not shorten domain names");

    CpupoolCreateOptions pool_create;
    auto* cpupool_create_cmd =
        app.add_subcommand("cpupool-create", "Create a CPU pool (name=, sched=, cpus=)");
    cpupool_create_cmd->add_option("config-and-vars", pool_create.overrides,
                                   "an optional config file, then VARIABLE=VALUE settings");
    cpupool_create_cmd->add_flag("-n,--dryrun", pool_create.dry_run,
                                 "only show what would be created");
    bool pool_cpus = false;
    std::string pool_arg;
    auto* cpupool_list_cmd = app.add_subcommand("cpupool-list", "List CPU pools");
    cpupool_list_cmd->add_option("pool", pool_arg);
    cpupool_list_cmd->add_flag("-c,--cpus", pool_cpus, "show the CPUs of each pool");
    auto* cpupool_destroy_cmd = app.add_subcommand("cpupool-destroy", "Destroy an empty CPU pool");
    cpupool_destroy_cmd->add_option("pool", pool_arg)->required();
    auto* cpupool_rename_cmd = app.add_subcommand("cpupool-rename", "Rename a CPU pool");
    cpupool_rename_cmd->add_option("pool", pool_arg)->required();
    cpupool_rename_cmd->add_option("new-name", arg2)->required();
    auto* cpupool_add_cmd = app.add_subcommand("cpupool-cpu-add", "Add free CPUs to a CPU pool");
    cpupool_add_cmd->add_option("pool", pool_arg)->required();
    cpupool_add_cmd->add_option("cpus", arg2, "CPU list")->required();
    auto* cpupool_remove_cmd =
        app.add_subcommand("cpupool-cpu-remove", "Take CPUs out of a CPU pool");
    cpupool_remove_cmd->add_option("pool", pool_arg)->required();
    cpupool_remove_cmd->add_option("cpus", arg2, "CPU list")->required();
    auto* cpupool_migrate_cmd =
        app.add_subcommand("cpupool-migrate", "Move a domain to another CPU pool");
    cpupool_migrate_cmd->add_option("domain", dom)->required();
    cpupool_migrate_cmd->add_option("pool", pool_arg)->required();

    SchedOptions sched_opts;
    auto add_weighted = [&](const char* name, bool credit1) {
        auto* c =
            app.add_subcommand(name, std::string("Get or set ") + (credit1 ? "credit" : "credit2") +
                                         " scheduler parameters");
        c->add_option("-d,--domain", sched_opts.domain);
        // Ranges are the scheduler's to check: its message names them (weight 1..65535).
        c->add_option("-w,--weight", sched_opts.weight);
        c->add_option("-c,--cap", sched_opts.cap);
        c->add_flag("-s,--schedparam", sched_opts.schedparam, "the pool's parameters");
        if (credit1) c->add_option("-t,--tslice_ms", sched_opts.tslice_ms);
        c->add_option("-r,--ratelimit_us", sched_opts.ratelimit_us);
        if (credit1) c->add_option("-m,--migration_delay_us", sched_opts.migration_delay_us);
        c->add_option("-p,--cpupool", sched_opts.pool);
        return c;
    };
    auto* sched_credit_cmd = add_weighted("sched-credit", true);
    auto* sched_credit2_cmd = add_weighted("sched-credit2", false);
    std::vector<std::string> rtds_vcpus;
    auto* sched_rtds_cmd = app.add_subcommand("sched-rtds", "Get or set RTDS scheduler parameters");
    sched_rtds_cmd->add_option("-d,--domain", sched_opts.domain);
    sched_rtds_cmd->add_option("-v,--vcpuid", rtds_vcpus, "vCPU number(s), or all");
    sched_rtds_cmd->add_option("-p,--period", sched_opts.period, "microseconds");
    sched_rtds_cmd->add_option("-b,--budget", sched_opts.budget, "microseconds");
    sched_rtds_cmd->add_option("-e,--extratime", sched_opts.extratime, "1 or 0")
        ->check(CLI::Range(0, 1));
    sched_rtds_cmd->add_option("-c,--cpupool", sched_opts.pool);
    std::optional<uint32_t> major_frame;
    std::vector<std::string> windows;
    auto* sched_a653_cmd =
        app.add_subcommand("sched-arinc653", "Show or set an ARINC 653 pool's schedule");
    sched_a653_cmd->add_option("-p,--cpupool", pool_arg);
    sched_a653_cmd->add_option("-f,--major-frame", major_frame,
                               "microseconds (default: the windows' sum)");
    sched_a653_cmd->add_option("-w,--window", windows, "DOMAIN:VCPU:RUNTIME_US, in order");

    auto* help_cmd = app.add_subcommand("help", "Print this help");

    CLI11_PARSE(app, argc, argv);
    if (*run_cmd) return run_command(run);
    if (*create_cmd) return create_command(create);
    if (*list_cmd) return list_command(doms, long_form, verbose);
    if (*destroy_cmd) return destroy_command(dom);
    if (*save_cmd) return save_command(dom, save_file, save_keep);
    if (*restore_cmd) return restore_command(save_file, restore_paused);
    if (*migrate_cmd) return migrate_command(dom, migrate_target, migrate_live);
    if (*shutdown_cmd) return shutdown_command(shut);
    if (*reboot_cmd) {
        shut.reboot = true;
        return shutdown_command(shut);
    }
    if (*pause_cmd) return pause_command(dom, true);
    if (*unpause_cmd) return pause_command(dom, false);
    if (*console_cmd) return console_command(dom);
    if (*rename_cmd) return rename_command(dom, arg2);
    if (*domid_cmd) return domid_command(dom);
    if (*domname_cmd) return domname_command(dom);
    if (*uptime_cmd) return uptime_command(doms, short_form);
    if (*info_cmd) return info_command();
    if (*dmesg_cmd) return dmesg_command(clear);
    if (*debug_keys_cmd) return debug_keys_command(debug_keys);
    if (*vcpu_list_cmd) return vcpu_list_command(doms);
    if (*vcpu_pin_cmd) return vcpu_pin_command(dom, arg2, arg3, arg4);
    if (*vcpu_set_cmd) return vcpu_set_command(dom, arg2);
    if (*mem_set_cmd) return mem_command(dom, arg2, false);
    if (*mem_max_cmd) return mem_command(dom, arg2, true);
    if (*top_cmd) return top_command(top);
    if (*block_attach_cmd) return block_attach_command(dom, spec);
    if (*debug_cmd) {
        if (debug_context) return debug_context_command(dom);
        if (gdb_endpoint.empty()) {
            std::fprintf(stderr, "xn debug: give --gdb ENDPOINT or --context\n");
            return 1;
        }
        return debug_command(dom, gdb_endpoint);
    }
    if (*trace_cmd) return trace_command(trace_opts);
    if (*protect_cmd) return vmi_protect_command(protect);
    if (*block_detach_cmd) return block_detach_command(dom, arg2, force);
    if (*block_list_cmd) return block_list_command(doms);
    if (*network_attach_cmd) return network_attach_command(dom, spec);
    if (*network_detach_cmd) return network_detach_command(dom, arg2, force);
    if (*network_list_cmd) return network_list_command(doms);
    if (*cpupool_create_cmd) {
        // xl cpupool-create [ConfigFile] [Variable=Value ...]: a first word without '=' is the
        // file.
        if (!pool_create.overrides.empty() &&
            pool_create.overrides[0].find('=') == std::string::npos) {
            pool_create.config_path = pool_create.overrides[0];
            pool_create.overrides.erase(pool_create.overrides.begin());
        }
        return cpupool_create_command(pool_create);
    }
    if (*cpupool_list_cmd) return cpupool_list_command(pool_arg, pool_cpus);
    if (*cpupool_destroy_cmd) return cpupool_simple_command("cpupool_destroy", pool_arg, "");
    if (*cpupool_rename_cmd) return cpupool_simple_command("cpupool_rename", pool_arg, arg2);
    if (*cpupool_add_cmd) return cpupool_simple_command("cpupool_cpu_add", pool_arg, arg2);
    if (*cpupool_remove_cmd) return cpupool_simple_command("cpupool_cpu_remove", pool_arg, arg2);
    if (*cpupool_migrate_cmd) return cpupool_simple_command("cpupool_migrate", dom, pool_arg);
    if (*sched_credit_cmd || *sched_credit2_cmd) {
        sched_opts.scheduler = *sched_credit_cmd ? "credit" : "credit2";
        return sched_command(sched_opts);
    }
    if (*sched_rtds_cmd) {
        sched_opts.scheduler = "rtds";
        for (const auto& v : rtds_vcpus) {
            if (v == "all") {
                sched_opts.all_vcpus = true;
            } else {
                char* end = nullptr;
                unsigned long n = std::strtoul(v.c_str(), &end, 10);
                if (v.empty() || *end || n > 4095) {
                    std::fprintf(stderr, "Incorrect VCPU IDs.\n");
                    return 1;
                }
                sched_opts.vcpus.push_back(static_cast<uint32_t>(n));
            }
        }
        return sched_command(sched_opts);
    }
    if (*sched_a653_cmd) return sched_arinc653_command(pool_arg, major_frame, windows);
    if (*help_cmd) {
        // app.help() would describe the selected subcommand (help itself): ask the formatter.
        std::printf("%s",
                    app.get_formatter()->make_help(&app, "xn", CLI::AppFormatMode::Normal).c_str());
        return 0;
    }
    return 1;
}
