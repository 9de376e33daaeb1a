// xn's daemon commands, xl's subcommands by name. Each returns the process exit status
// (0, or 1 after printing one message on stderr, as xl does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xenolith::xn {

struct CreateOptions {
    std::string config_path;
    std::vector<std::string> overrides;
    bool console = false;  // -c
    bool paused = false;   // -p
};
int create_command(const CreateOptions& o);

struct ShutdownOptions {
    std::vector<std::string> domains;
    bool all = false;  // -a
    int wait = 0;      // -w once: shut down or destroyed; twice: destroyed
    bool reboot = false;
};
int shutdown_command(const ShutdownOptions& o);

// xn save [-c] DOM FILE, xn restore [-p] FILE (save_commands.cpp).
int save_command(const std::string& domain, const std::string& file, bool keep_running);
int restore_command(const std::string& file, bool paused);
// xn migrate [--live] DOM [tcp:]HOST:PORT, to a xenolithd started with --migrate-listen there.
int migrate_command(const std::string& domain, const std::string& target, bool live);
int destroy_command(const std::string& domain);
int pause_command(const std::string& domain, bool pause);
int rename_command(const std::string& domain, const std::string& name);
int domid_command(const std::string& name);
int domname_command(const std::string& domid);
int console_command(const std::string& domain);
// xn debug DOM --gdb ENDPOINT (debug_command.cpp).
int debug_command(const std::string& domain, const std::string& endpoint);
// xn debug DOM --context: each vCPU's registers and code bytes, read while the domain is
// stopped for a moment (debug_command.cpp).
int debug_context_command(const std::string& domain);
// xn trace DOM --hypercalls|--syscalls [--max N] (trace_command.cpp).
struct TraceOptions {
    std::string domain;
    bool hypercalls = false;
    bool syscalls = false;
    uint64_t max = 0;  // 0: until the domain ends or Ctrl-C
};
int trace_command(const TraceOptions& o);
// xn vmi protect DOM ADDRESS|SYMBOL [--crash] (vmi_command.cpp).
struct VmiProtectOptions {
    std::string domain;
    std::string target;   // a hex address or a symbol of the domain's kernel
    uint64_t length = 0;  // 0: 1 byte, or the symbol's size
    bool physical = false;
    bool crash = false;
};
int vmi_protect_command(const VmiProtectOptions& o);

int list_command(const std::vector<std::string>& domains, bool long_form, bool verbose);
int uptime_command(const std::vector<std::string>& domains, bool short_form);
int info_command();
int dmesg_command(bool clear);
// xn debug-keys KEYS: the daemon dumps what the keys name into its message buffer (xn dmesg).
int debug_keys_command(const std::string& keys);
int vcpu_list_command(const std::vector<std::string>& domains);

struct TopOptions {
    double delay_s = 3;       // -d, xentop's default
    bool batch = false;       // -b
    int iterations = 0;       // -i, 0 = until interrupted
    bool full_names = false;  // -f
};
int top_command(const TopOptions& o);

int vcpu_pin_command(const std::string& domain, const std::string& vcpu, const std::string& hard,
                     const std::string& soft);
int vcpu_set_command(const std::string& domain, const std::string& count);
int mem_command(const std::string& domain, const std::string& size, bool max);

int block_attach_command(const std::string& domain, const std::vector<std::string>& spec);
int block_detach_command(const std::string& domain, const std::string& device, bool force);
int block_list_command(const std::vector<std::string>& domains);
int network_attach_command(const std::string& domain, const std::vector<std::string>& spec);
int network_detach_command(const std::string& domain, const std::string& device, bool force);
int network_list_command(const std::vector<std::string>& domains);
std::string join_spec(const std::vector<std::string>& parts);
// The caller's directory, sent with requests whose relative paths the daemon resolves.
std::string current_dir();

// xl's size syntax for mem-set/mem-max: a number with an optional b/k/m/g/t suffix,
// MiB when there is none. Returns false when `text` is not one.
bool parse_mem_size_kib(const std::string& text, uint64_t& kib);

}  // namespace xenolith::xn
