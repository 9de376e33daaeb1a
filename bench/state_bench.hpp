// The save/restore figures (issue 14: "save throughput against writing the same bytes to
// the same file system"), on each platform that runs guests here (docs/benchmarks.md,
// "Save and restore"):
//   save_<platform>: state::save_domain of a paused `spin` guest whose RAM holds a realistic
//     mix (bench/ram_mix.hpp) into a file, then fsync; floor: the same RAM bytes written to
//     a file in the same directory in 1 MiB write()s, then fsync;
//   restore_<platform>: state::restore_domain from that file into a new domain; floor: the
//     raw file read back in 1 MiB read()s into fresh memory of the same kind as guest RAM.
//     Both files are read from the page cache (they were just written; nothing is dropped).
// Each figure is in MiB/s of guest RAM; the ratio is ours' time over the floor's.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::bench {

struct StateBenchOptions {
    std::string guest_dir;  // holds `spin`
    std::string dir;        // where the files go; empty: $TMPDIR, else /tmp
    uint64_t memory_mib = 256;
    unsigned reps = 5;
    unsigned warmups = 1;
    std::string kvm_reason;      // empty: KVM runs guests here
    std::string process_reason;  // empty: the process platform runs guests here
};

// The options, for the document's "config".
json state_config(const StateBenchOptions& o);
// Adds save_<platform> and restore_<platform> to `figures` (the document's "state" object),
// or "not measured: <why>" for a platform that cannot run guests here; failures go to
// `errors` as "state.<figure>: <what>".
void state_benchmarks(hv::Hypervisor& hv, const StateBenchOptions& o, json& figures, json& errors);

}  // namespace xenolith::bench
