// xn: Xenolith's xl-compatible command line.
#include <CLI/CLI.hpp>

#include "toolstack/xn/info.hpp"
#include "toolstack/xn/run.hpp"

int main(int argc, char** argv) {
    using namespace xenolith::xn;
    CLI::App app{"xn: the Xenolith toolstack (xl-compatible commands for Xen guests on KVM)"};
    app.require_subcommand(1);
    app.set_version_flag("-V,--version", "xn 0.1 (Xen 4.17 ABI)");

    RunOptions run;
    auto* run_cmd = app.add_subcommand(
        "run", "Boot one guest from an xl.cfg without a daemon; console on stdout; exit with "
               "the guest's exit status (124: crashed, 125: could not start)");
    run_cmd->add_option("config", run.config_path, "xl.cfg file")->required();
    run_cmd->add_option("overrides", run.overrides, "KEY=VALUE settings applied after the file");
    run_cmd->add_flag("-q,--quiet", run.quiet, "no progress lines on stderr");
    run_cmd->add_option("--xenstore-socket", run.xenstore_socket,
                        "serve xenstore on this unix socket (for xenstore-ls with XENSTORED_PATH)");
    run_cmd->add_option("--console-log", run.console_log_dir,
                        "also append the console to DIR/guest-<name>.log")
        ->check(CLI::ExistingDirectory);

    auto* info_cmd = app.add_subcommand("info", "Show the host, its KVM flavour and capabilities");

    CLI11_PARSE(app, argc, argv);
    if (*run_cmd) return run_command(run);
    if (*info_cmd) return info_command();
    return 1;
}
