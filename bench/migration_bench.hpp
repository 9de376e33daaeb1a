// The live-migration figures (issue 14: "live-migration downtime and total time of a
// 256 MiB guest dirtying memory at a set rate (targets: downtime under 20 ms; total time at
// most 1.5x sending its memory once over the same connection)"), on each platform that runs
// guests here and can log the pages a guest writes (docs/benchmarks.md, "Live migration"):
//   live_migration_total_<platform>: a `dirty` guest writing its 256 MiB buffer at a set
//     rate, migrated in-process over a loopback TCP connection (state::Precopy and
//     state::DomainSaver on this thread, state::DomainRestore on a receiving thread), from
//     the connection's start until the copy is started; floor: the guest's RAM bytes sent
//     once over the same kind of connection to a thread reading them into fresh memory;
//   live_migration_downtime_<platform>: from the pause until the copy is started; peer: the
//     same guest's stop-and-copy migration (the whole stream sent with it paused).
// Each copy runs a while and must find every page it checks as written (no MISMATCH).
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"
#include "hv/hypervisor.hpp"

namespace xenolith::bench {

struct MigrationBenchOptions {
    std::string guest_dir;  // holds `dirty`
    uint64_t memory_mib = 320;
    uint64_t buffer_mib = 256;  // the guest's `dirty mib=`
    uint64_t rate = 20000;      // its `rate=`, pages written per second
    unsigned reps = 3;
    unsigned warmups = 1;
    uint64_t copy_run_ms = 500;  // how long each copy runs before its console is checked
    double downtime_target_ms = 20;
    double total_target_ratio = 1.5;
    std::string kvm_reason;      // empty: KVM runs guests here
    std::string process_reason;  // empty: the process platform runs guests here
};

// The options, for the document's "config".
json migration_config(const MigrationBenchOptions& o);
// Adds live_migration_total_<platform> and live_migration_downtime_<platform> to `figures`
// (the document's "state" object), or "not measured: <why>" for a platform that cannot run
// guests or log their writes here; failures go to `errors` as "state.<figure>: <what>".
void migration_benchmarks(hv::Hypervisor& hv, const MigrationBenchOptions& o, json& figures,
                          json& errors);

}  // namespace xenolith::bench
