// The I/O figures (issue 12): PV block and network on the process platform, each beside
// what a host process does with the same file or the same loopback (docs/benchmarks.md,
// "I/O"). The guests run through `xn run` (accel = "process"), as an operator would:
//   blk_seq_read, blk_seq_write: the `blkbench` guest moving 1 MiB requests through the
//     first disk_mib MiB of a raw image (blkback), qd in flight; floor: the same 1 MiB
//     reads or writes on the same file by io_uring at the same queue depth;
//   blk_rand_read: 4 KiB reads at random aligned offsets, same split;
//   http_requests_per_second, http_p99_latency: Debian's wrk against the `httpd` guest
//     through the user-mode network's forward; floor: Debian's nginx serving the same bytes
//     on the host's loopback, same wrk parameters;
//   tcp_stream_guest_to_host: the `netbench` guest streaming to a socket this process
//     listens on; floor: the same stream between two threads over the host's loopback.
// Each figure is measured, or carries an "error" saying why not (a missing tool, a guest
// that failed); the others still run.
#pragma once

#include <cstdint>
#include <string>

#include "bench/report.hpp"

namespace xenolith::bench {

struct IoBenchOptions {
    std::string guest_dir;  // blkbench, httpd, netbench
    std::string xn_path;
    uint64_t disk_mib = 256;   // the image, and the region every block pattern covers
    unsigned seq_qd = 8;       // 1 MiB requests in flight
    unsigned rand_qd = 32;     // 4 KiB requests in flight
    unsigned blk_seconds = 2;  // each block run, each side
    unsigned blk_reps = 2;
    unsigned http_seconds = 3;  // wrk -d
    unsigned http_connections = 8;
    unsigned http_reps = 2;
    uint64_t stream_mib = 256;
    unsigned stream_reps = 2;
};

// The options, for the document's "config".
json io_config(const IoBenchOptions& o);
// Adds the figures to `figures` (the document's "io" object); a figure that could not be
// measured is {"error": ...} and its line goes to `errors` as "io.<figure>: <what>".
void io_benchmarks(const IoBenchOptions& o, json& figures, json& errors);

}  // namespace xenolith::bench
