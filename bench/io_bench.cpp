#include "bench/io_bench.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "bench/guests.hpp"
#include "bench/host_process.hpp"
#include "bench/temp_dir.hpp"

namespace xenolith::bench {

namespace {

constexpr uint32_t kSeqBs = 1 << 20;
constexpr uint32_t kRandBs = 4096;

// ---- shared pieces -----------------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) throw Error("cannot write " + path);
}

// A TCP socket listening on 127.0.0.1 at a port the kernel picks.
UniqueFd listen_loopback(uint16_t* port) {
    UniqueFd fd(static_cast<int>(
        check_syscall(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check_syscall(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), "bind");
    check_syscall(::listen(fd.get(), 16), "listen");
    socklen_t len = sizeof a;
    check_syscall(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), "getsockname");
    *port = ntohs(a.sin_port);
    return fd;
}

// A port free on 127.0.0.1 right now, for a program that binds it itself (xn's forward,
// nginx). Another process could take it in between; the program then fails and says so.
uint16_t free_port() {
    uint16_t port = 0;
    listen_loopback(&port);
    return port;
}

UniqueFd connect_loopback(uint16_t port) {
    UniqueFd fd(static_cast<int>(
        check_syscall(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) return UniqueFd();
    return fd;
}

// The `xn run` configuration of a one-vCPU process-platform guest.
std::string guest_config(const std::string& name, const std::string& kernel, uint64_t memory_mib,
                         const std::string& device_lines, const std::string& extra) {
    return "name = \"" + name + "\"\nkernel = \"" + kernel +
           "\"\nmemory = " + std::to_string(memory_mib) +
           "\nvcpus = 1\naccel = \"process\"\non_crash = \"destroy\"\n" + device_lines +
           "extra = \"" + extra + "\"\n";
}

std::string guest_image(const IoBenchOptions& o, const std::string& name) {
    std::string path = o.guest_dir + "/" + name;
    if (::access(path.c_str(), R_OK) != 0)
        throw Error("guest image " + path + " is missing: build the target guest-" + name);
    return path;
}

// Runs a guest to its end through `xn run`; its console (and xn's lines) on success.
std::string run_xn(const IoBenchOptions& o, const TempDir& dir, const std::string& config,
                   uint64_t timeout_ms) {
    write_file(dir / "guest.cfg", config);
    HostProcess xn({o.xn_path, "run", "-q", dir / "guest.cfg"}, dir / "guest.out");
    std::optional<int> status = xn.wait(timeout_ms);
    if (!status) throw Error("`xn run` did not finish in time; output: " + xn.output());
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw Error("`xn run` " + HostProcess::describe(*status) + "; output: " + xn.output());
    return xn.output();
}

double mib_per_s(double bytes, double ns) {
    return bytes / double(1 << 20) * 1e9 / ns;
}

// A throughput figure: higher is better, so the best sample is the largest.
json throughput_figure(const std::string& unit, const std::string& what,
                       const std::vector<double>& ours, const std::vector<double>& floor,
                       double target) {
    json f = figure(unit, what, ours, floor);
    f.update(ratio_block("ours.median / floor.median", median(ours) / median(floor), ">=", target,
                         maximum(ours) / maximum(floor)));
    return f;
}

// ---- block -------------------------------------------------------------------------------

enum class Pattern { SeqRead, SeqWrite, RandRead };

const char* mode_name(Pattern p) {
    return p == Pattern::SeqRead ? "seqread" : p == Pattern::SeqWrite ? "seqwrite" : "randread";
}

struct BlockRun {
    uint64_t bytes = 0;
    uint64_t ns = 0;
};

// The offsets blkbench uses: sequential through the region, wrapping; random bs-aligned
// from the same xorshift64 and seed.
class Offsets {
  public:
    Offsets(bool random, uint64_t region, uint32_t bs)
        : random_(random), region_(region), bs_(bs) {}
    uint64_t next() {
        if (random_) {
            rng_ ^= rng_ << 13;
            rng_ ^= rng_ >> 7;
            rng_ ^= rng_ << 17;
            return (rng_ % (region_ / bs_)) * bs_;
        }
        uint64_t at = cursor_;
        cursor_ = cursor_ + 2 * bs_ > region_ ? 0 : cursor_ + bs_;
        return at;
    }

  private:
    bool random_;
    uint64_t region_;
    uint32_t bs_;
    uint64_t cursor_ = 0;
    uint64_t rng_ = 0x9e3779b97f4a7c15ull | 1;  // blkbench's seed=1
};

// An io_uring of `depth` entries, with one bs-sized buffer per entry.
class Uring {
  public:
    Uring(unsigned depth, uint32_t bs) : buffers_(depth) {
        if (int rc = io_uring_queue_init(depth, &ring_, 0); rc < 0)
            throw SystemError("io_uring_queue_init", -rc);
        for (auto& b : buffers_) {
            void* p = nullptr;
            if (::posix_memalign(&p, 4096, bs) != 0) throw Error("out of memory for buffers");
            std::memset(p, 0x5a, bs);
            b.reset(static_cast<char*>(p));
        }
    }
    ~Uring() { io_uring_queue_exit(&ring_); }
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;
    io_uring* ring() { return &ring_; }
    char* buffer(unsigned i) { return buffers_[i].get(); }

  private:
    struct Free {
        void operator()(char* p) const { ::free(p); }
    };
    io_uring ring_{};
    std::vector<std::unique_ptr<char, Free>> buffers_;
};

// The floor: blkbench's loop on the host, `qd` requests in flight on the same file until
// `seconds` are up, then drained.
BlockRun host_block_run(int fd, Pattern p, uint64_t region, uint32_t bs, unsigned qd,
                        unsigned seconds) {
    Uring u(qd, bs);
    Offsets offsets(p == Pattern::RandRead, region, bs);
    auto queue = [&](unsigned slot) {
        io_uring_sqe* sqe = io_uring_get_sqe(u.ring());
        if (p == Pattern::SeqWrite)
            io_uring_prep_write(sqe, fd, u.buffer(slot), bs, offsets.next());
        else
            io_uring_prep_read(sqe, fd, u.buffer(slot), bs, offsets.next());
        io_uring_sqe_set_data64(sqe, slot);
    };
    BlockRun r;
    uint64_t t0 = now_ns(), end = t0 + uint64_t{seconds} * 1'000'000'000;
    for (unsigned i = 0; i < qd; ++i) queue(i);
    io_uring_submit(u.ring());
    unsigned inflight = qd;
    while (inflight) {
        io_uring_cqe* cqe = nullptr;
        if (int rc = io_uring_wait_cqe(u.ring(), &cqe); rc < 0) {
            if (rc == -EINTR) continue;
            throw SystemError("io_uring_wait_cqe", -rc);
        }
        int res = cqe->res;
        unsigned slot = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
        io_uring_cqe_seen(u.ring(), cqe);
        --inflight;
        if (res != static_cast<int>(bs))
            throw Error(std::string("host ") + mode_name(p) + ": an operation returned " +
                        std::to_string(res));
        r.bytes += bs;
        if (now_ns() < end) {
            queue(slot);
            io_uring_submit(u.ring());
            ++inflight;
        }
    }
    r.ns = now_ns() - t0;
    return r;
}

// The guest: `blkbench mode=<p>` on the image as xvda.
BlockRun guest_block_run(const IoBenchOptions& o, const TempDir& dir, const std::string& image,
                         Pattern p, uint32_t bs, unsigned qd) {
    std::string extra = std::string("mode=") + mode_name(p) + " mib=" + std::to_string(o.disk_mib) +
                        " qd=" + std::to_string(qd) + " bs=" + std::to_string(bs) +
                        " seconds=" + std::to_string(o.blk_seconds);
    uint64_t memory = 32 + ((uint64_t{qd} * bs) >> 20);  // its buffers besides itself
    std::string config = guest_config("io-blkbench", guest_image(o, "blkbench"), memory,
                                      "disk = ['" + image + ",raw,xvda,w']\n", extra);
    std::string out = run_xn(o, dir, config, (o.blk_seconds + 30) * 1000);
    std::string line = line_with(out, std::string("blkbench: ") + mode_name(p) + " bytes=");
    unsigned long long bytes = 0, ns = 0;
    if (std::sscanf(line.c_str() + line.find("bytes="), "bytes=%llu ns=%llu", &bytes, &ns) != 2 ||
        ns == 0 || bytes == 0)
        throw Error("cannot parse the blkbench line: " + line);
    return {bytes, ns};
}

// Writes the image in full (pseudo-random bytes, no holes) and syncs it: every read then
// hits data, and the file sits in the page cache (warm) for both sides.
void make_image(const std::string& path, uint64_t mib) {
    UniqueFd fd(static_cast<int>(
        check_syscall(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open")));
    std::vector<uint64_t> block(kSeqBs / sizeof(uint64_t));
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (uint64_t m = 0; m < mib; ++m) {
        for (auto& w : block) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w = x;
        }
        if (::pwrite(fd.get(), block.data(), kSeqBs, static_cast<off_t>(m * kSeqBs)) != kSeqBs)
            throw SystemError("writing the disk image " + path, errno);
    }
    check_syscall(::fsync(fd.get()), "fsync");
}

json block_figure(const IoBenchOptions& o, const TempDir& dir, const std::string& image,
                  Pattern p) {
    const bool random = p == Pattern::RandRead;
    const uint32_t bs = random ? kRandBs : kSeqBs;
    const unsigned qd = random ? o.rand_qd : o.seq_qd;
    progress(std::string("io.blk ") + mode_name(p) + ": bs=" + std::to_string(bs) +
             " qd=" + std::to_string(qd) + ", " + std::to_string(o.blk_reps) + " reps of " +
             std::to_string(o.blk_seconds) + " s each side");
    UniqueFd fd(static_cast<int>(check_syscall(
        ::open(image.c_str(), (p == Pattern::SeqWrite ? O_RDWR : O_RDONLY) | O_CLOEXEC), "open")));
    // IOPS for random reads, MiB/s for the sequential patterns.
    auto rate = [&](const BlockRun& r) {
        return random ? double(r.bytes / bs) * 1e9 / double(r.ns) : mib_per_s(r.bytes, r.ns);
    };
    std::vector<double> ours, floor;
    interleave(
        0, o.blk_reps,
        [&](bool) {
            floor.push_back(
                rate(host_block_run(fd.get(), p, o.disk_mib << 20, bs, qd, o.blk_seconds)));
            // The guest flushes after writing (untimed): so does the floor, so each run
            // starts with the same clean page cache.
            if (p == Pattern::SeqWrite) check_syscall(::fdatasync(fd.get()), "fdatasync");
        },
        [&](bool) { ours.push_back(rate(guest_block_run(o, dir, image, p, bs, qd))); });
    std::string op = p == Pattern::SeqWrite ? "writes" : "reads";
    std::string what =
        "ours: the `blkbench` guest (" + std::string(mode_name(p)) + ", `xn run` with accel = " +
        "\"process\", the image as disk xvda served by blkback) keeps " + std::to_string(qd) + " " +
        std::to_string(bs) + "-byte " + op + " in flight for " + std::to_string(o.blk_seconds) +
        " s over the first " + std::to_string(o.disk_mib) + " MiB, " +
        (random ? "at random aligned offsets" : "sequentially, wrapping") +
        ", timed by its own clock; floor: this process does the same " + op +
        " (same offsets) on the same file with io_uring, " + std::to_string(qd) +
        " in flight for as long. Page cache: warm for both (the image was just written whole "
        "and fits in memory).";
    json f = throughput_figure(random ? "IOPS" : "MiB/s", what, ours, floor, random ? 0.5 : 0.8);
    f["qd"] = qd;
    f["bs"] = bs;
    return f;
}

// ---- HTTP --------------------------------------------------------------------------------

// GET / on 127.0.0.1:port; the body, or an Error.
std::string http_get_root(uint16_t port) {
    UniqueFd fd = connect_loopback(port);
    if (!fd) throw SystemError("connect to 127.0.0.1:" + std::to_string(port), errno);
    std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size()))
        throw SystemError("send", errno);
    std::string in;
    char buf[4096];
    size_t want = std::string::npos;  // the whole response's length, once the head is in
    while (in.size() < want) {
        pollfd pf{fd.get(), POLLIN, 0};
        if (::poll(&pf, 1, 5000) <= 0) throw Error("GET / timed out: " + in);
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0) throw SystemError("recv", errno);
        if (n == 0) break;
        in.append(buf, size_t(n));
        size_t head = in.find("\r\n\r\n");
        if (want == std::string::npos && head != std::string::npos) {
            size_t cl = in.find("Content-Length:");
            if (cl == std::string::npos || cl > head) throw Error("no Content-Length: " + in);
            want = head + 4 + std::stoul(in.substr(cl + 15));
        }
    }
    if (in.rfind("HTTP/1.1 200", 0) != 0) throw Error("GET / answered: " + in.substr(0, 200));
    return in.substr(in.find("\r\n\r\n") + 4);
}

// Calls `get` until it stops throwing or `timeout_ms` pass (a server still starting).
std::string http_get_when_up(uint16_t port, uint64_t timeout_ms) {
    uint64_t deadline = now_ns() + timeout_ms * 1'000'000;
    for (;;) {
        try {
            return http_get_root(port);
        } catch (const std::exception&) {
            if (now_ns() > deadline) throw;
            ::usleep(20'000);
        }
    }
}

struct WrkRun {
    double requests_per_s = 0;
    double p99_us = 0;
    uint64_t requests = 0;
    uint64_t bad_responses = 0;  // non-2xx/3xx
    uint64_t socket_errors = 0;  // connect + read + write + timeout
};

// "181.00us", "6.55ms", "1.02s", "1.50m" in µs.
double wrk_time_us(double v, const std::string& unit) {
    if (unit == "us") return v;
    if (unit == "ms") return v * 1e3;
    if (unit == "s") return v * 1e6;
    if (unit == "m") return v * 60e6;
    throw Error("wrk: unknown time unit '" + unit + "'");
}

WrkRun parse_wrk(const std::string& out) {
    WrkRun r;
    bool have_rps = false, have_p99 = false;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        double v = 0;
        char unit[8] = {};
        unsigned long long a = 0, b = 0, c = 0, d = 0;
        if (std::sscanf(line.c_str(), " Requests/sec: %lf", &v) == 1) {
            r.requests_per_s = v, have_rps = true;
        } else if (std::sscanf(line.c_str(), " 99%% %lf%7[a-z]", &v, unit) == 2) {
            r.p99_us = wrk_time_us(v, unit), have_p99 = true;
        } else if (std::sscanf(line.c_str(), " %llu requests in", &a) == 1) {
            r.requests = a;
        } else if (std::sscanf(line.c_str(), " Non-2xx or 3xx responses: %llu", &a) == 1) {
            r.bad_responses = a;
        } else if (std::sscanf(line.c_str(),
                               " Socket errors: connect %llu, read %llu, write %llu, timeout %llu",
                               &a, &b, &c, &d) == 4) {
            r.socket_errors = a + b + c + d;
        }
    }
    if (!have_rps || !have_p99) throw Error("cannot parse wrk's output: " + out);
    return r;
}

std::vector<std::string> wrk_args(const IoBenchOptions& o, uint16_t port) {
    return {"wrk",
            "-t1",
            "-c" + std::to_string(o.http_connections),
            "-d" + std::to_string(o.http_seconds) + "s",
            "--latency",
            "http://127.0.0.1:" + std::to_string(port) + "/"};
}

WrkRun run_wrk(const IoBenchOptions& o, const TempDir& dir, uint16_t port) {
    HostProcess wrk(wrk_args(o, port), dir / "wrk.out");
    std::optional<int> status = wrk.wait((o.http_seconds + 15) * 1000);
    if (!status) throw Error("wrk did not finish in time: " + wrk.output());
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw Error("wrk " + HostProcess::describe(*status) + ": " + wrk.output());
    WrkRun r = parse_wrk(wrk.output());
    if (r.requests == 0) throw Error("wrk completed no request: " + wrk.output());
    return r;
}

// nginx as an unprivileged server of one page: its prefix, pid, logs and temp paths in
// `dir`, one worker, in the foreground, on 127.0.0.1:port.
std::string nginx_config(const TempDir& dir, uint16_t port) {
    const std::string d = dir.path();
    return "daemon off;\nmaster_process on;\nworker_processes 1;\npid " + d +
           "/nginx.pid;\nerror_log " + d +
           "/nginx-error.log;\nevents { worker_connections 256; }\nhttp {\n"
           "    access_log off;\n    client_body_temp_path " +
           d +
           "/body;\n"
           "    proxy_temp_path " +
           d + "/proxy;\n    fastcgi_temp_path " + d +
           "/fastcgi;\n"
           "    uwsgi_temp_path " +
           d + "/uwsgi;\n    scgi_temp_path " + d +
           "/scgi;\n"
           "    keepalive_requests 100000000;\n    server_tokens off;\n"
           "    server {\n        listen 127.0.0.1:" +
           std::to_string(port) +
           ";\n"
           "        root " +
           d +
           "/www;\n"
           "        location = / {\n            default_type \"text/html; charset=utf-8\";\n"
           "            try_files /index.html =404;\n        }\n    }\n}\n";
}

// Both servers up at once, wrk alternating between them: the requests-per-second and
// p99 figures from the same runs.
void http_figures(const IoBenchOptions& o, json& figures) {
    progress("io.http: wrk " + std::to_string(o.http_reps) + " reps of " +
             std::to_string(o.http_seconds) + " s each side");
    for (const char* tool : {"wrk", "nginx"})
        if (find_program(tool).empty())
            throw Error(std::string(tool) + " is not installed (make deps installs wrk and " +
                        "nginx-light)");
    TempDir dir("xenolith-io");
    const uint16_t guest_port = free_port();
    write_file(
        dir / "httpd.cfg",
        guest_config("io-httpd", guest_image(o, "httpd"), 32,
                     "vif = ['forward=" + std::to_string(guest_port) + ":80']\n", "ip=dhcp"));
    HostProcess httpd({o.xn_path, "run", "-q", dir / "httpd.cfg"}, dir / "httpd.out");
    if (!httpd.wait_for_output("httpd: listening on", 20'000))
        throw Error("the httpd guest did not start listening: " + httpd.output());
    std::string page = http_get_when_up(guest_port, 5'000);

    // nginx's worker drops root for `nobody` when started as root: it must read the page.
    std::filesystem::permissions(
        dir.path(), std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
        std::filesystem::perm_options::add);
    std::filesystem::create_directories(dir / "www");
    write_file(dir / "www/index.html", page);
    const uint16_t nginx_port = free_port();
    write_file(dir / "nginx.conf", nginx_config(dir, nginx_port));
    HostProcess nginx(
        {"nginx", "-p", dir.path(), "-e", dir / "nginx-error.log", "-c", dir / "nginx.conf"},
        dir / "nginx.out");
    std::string floor_page = http_get_when_up(nginx_port, 5'000);
    if (floor_page != page) throw Error("nginx does not serve httpd's page byte for byte");

    std::vector<double> ours_rps, floor_rps, ours_p99, floor_p99;
    json ours_runs = json::array(), floor_runs = json::array();
    auto note = [](json& runs, const WrkRun& r) {
        runs.push_back({{"requests", r.requests},
                        {"non_2xx_3xx", r.bad_responses},
                        {"socket_errors", r.socket_errors}});
    };
    interleave(
        0, o.http_reps,
        [&](bool) {
            WrkRun r = run_wrk(o, dir, nginx_port);
            floor_rps.push_back(r.requests_per_s), floor_p99.push_back(r.p99_us);
            note(floor_runs, r);
        },
        [&](bool) {
            if (!httpd.running()) throw Error("the httpd guest ended: " + httpd.output());
            WrkRun r = run_wrk(o, dir, guest_port);
            ours_rps.push_back(r.requests_per_s), ours_p99.push_back(r.p99_us);
            note(ours_runs, r);
        });
    std::string cmd;
    for (const auto& a : wrk_args(o, 0)) cmd += (cmd.empty() ? "" : " ") + a;
    cmd = cmd.substr(0, cmd.rfind(' '));
    const std::string both =
        "ours: the `httpd` guest (Pumice, lwIP, netfront; `xn run` with accel = \"process\") "
        "behind netback's user-mode network, reached through its forward from the host's "
        "127.0.0.1; floor: Debian's nginx (one worker, access log off) serving the same " +
        std::to_string(page.size()) +
        "-byte page, fetched from httpd once, on 127.0.0.1. Both servers run throughout, `" + cmd +
        " <url>` alternates between them";
    json rps = throughput_figure("requests/s", both + "; Requests/sec.", ours_rps, floor_rps, 0.5);
    rps["page_bytes"] = page.size();
    rps["ours_runs"] = ours_runs;
    rps["floor_runs"] = floor_runs;
    figures["http_requests_per_second"] = rps;
    json p99 = figure("µs", both + "; the 99th percentile of wrk's latency distribution.", ours_p99,
                      floor_p99);
    p99.update(ratio_block_untargeted("ours.median / floor.median",
                                      median(ours_p99) / median(floor_p99),
                                      minimum(ours_p99) / minimum(floor_p99)));
    figures["http_p99_latency"] = p99;
}

// ---- TCP stream --------------------------------------------------------------------------

// Accepts one connection on a loopback socket and reads it to its end (1 MiB reads) on its
// own thread; bytes() waits for that end.
class StreamSink {
  public:
    StreamSink() : listener_(listen_loopback(&port_)), thread_([this] { run(); }) {}
    ~StreamSink() {
        stop_ = true;
        thread_.join();
    }
    StreamSink(const StreamSink&) = delete;
    StreamSink& operator=(const StreamSink&) = delete;
    uint16_t port() const { return port_; }
    // The bytes read once the peer closed, or an Error (none within timeout_ms, a failure).
    uint64_t bytes(uint64_t timeout_ms) {
        uint64_t deadline = now_ns() + timeout_ms * 1'000'000;
        while (!done_ && now_ns() < deadline) ::usleep(1000);
        if (!done_) throw Error("the sink saw no end of stream in time");
        if (!failure_.empty()) throw Error("sink: " + failure_);
        return received_;
    }
    uint64_t end_ns() const { return end_ns_; }

  private:
    // Waits for fd to be readable, watching stop_; false once stopped.
    bool readable(int fd) {
        while (!stop_) {
            pollfd pf{fd, POLLIN, 0};
            if (::poll(&pf, 1, 50) > 0) return true;
        }
        return false;
    }
    void run() {
        if (!readable(listener_.get())) return;
        UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) {
            failure_ = std::string("accept: ") + std::strerror(errno);
            done_ = true;
            return;
        }
        std::vector<char> buf(1 << 20);
        while (readable(conn.get())) {
            ssize_t n = ::recv(conn.get(), buf.data(), buf.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) failure_ = std::string("recv: ") + std::strerror(errno);
            if (n <= 0) break;
            received_ += uint64_t(n);
        }
        end_ns_ = now_ns();
        done_ = true;
    }
    uint16_t port_ = 0;
    UniqueFd listener_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};
    uint64_t received_ = 0;  // written by the thread before done_
    uint64_t end_ns_ = 0;
    std::string failure_;
    std::thread thread_;
};

// The floor: this thread connects to a sink thread and writes `bytes` in 16 KiB blocks
// (netbench's block); from the connection to the sink's end of stream, in Mbit/s.
double host_stream(uint64_t bytes) {
    StreamSink sink;
    UniqueFd fd = connect_loopback(sink.port());
    if (!fd) throw SystemError("connect", errno);
    std::vector<char> block(16384);
    for (size_t i = 0; i < block.size(); ++i) block[i] = char('a' + i % 26);
    uint64_t t0 = now_ns();
    for (uint64_t sent = 0; sent < bytes;) {
        size_t n = size_t(std::min<uint64_t>(block.size(), bytes - sent));
        ssize_t w = ::send(fd.get(), block.data(), n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) throw SystemError("send", errno);
        sent += uint64_t(w);
    }
    ::shutdown(fd.get(), SHUT_WR);
    uint64_t got = sink.bytes(30'000);
    if (got != bytes) throw Error("host stream: the sink read " + std::to_string(got) + " bytes");
    return double(bytes) * 8e3 / double(sink.end_ns() - t0);
}

// Ours: `netbench` to a sink here (10.0.2.2 is the host's loopback in the user-mode network).
double guest_stream(const IoBenchOptions& o, const TempDir& dir) {
    StreamSink sink;
    std::string extra = "ip=dhcp host=10.0.2.2 port=" + std::to_string(sink.port()) +
                        " mib=" + std::to_string(o.stream_mib);
    std::string out = run_xn(
        o, dir, guest_config("io-netbench", guest_image(o, "netbench"), 32, "vif = ['']\n", extra),
        60'000);
    std::string line = line_with(out, "netbench: stream bytes=");
    unsigned long long bytes = 0, ns = 0;
    if (std::sscanf(line.c_str(), "netbench: stream bytes=%llu ns=%llu", &bytes, &ns) != 2 ||
        ns == 0)
        throw Error("cannot parse the netbench line: " + line);
    uint64_t got = sink.bytes(5'000);
    if (got != bytes || bytes != o.stream_mib << 20)
        throw Error("netbench sent " + std::to_string(bytes) + " bytes, the sink read " +
                    std::to_string(got));
    return double(bytes) * 8e3 / double(ns);
}

json stream_figure(const IoBenchOptions& o) {
    progress("io.tcp_stream: " + std::to_string(o.stream_mib) + " MiB, " +
             std::to_string(o.stream_reps) + " reps");
    TempDir dir("xenolith-io");
    std::vector<double> ours, floor;
    interleave(
        0, o.stream_reps, [&](bool) { floor.push_back(host_stream(o.stream_mib << 20)); },
        [&](bool) { ours.push_back(guest_stream(o, dir)); });
    json f = figure(
        "Mbit/s",
        "ours: the `netbench` guest (lwIP, netfront; `xn run` with accel = \"process\") "
        "sends " +
            std::to_string(o.stream_mib) +
            " MiB over TCP through netback's user-mode network to 10.0.2.2, a socket this "
            "process listens on at the host's 127.0.0.1, timed by the guest from the "
            "connection to the last byte acknowledged; floor: the same bytes in the same "
            "16 KiB writes from one thread of this process to a reading thread over the host's "
            "loopback, from the connection to the reader's end of stream.",
        ours, floor);
    f.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                    maximum(ours) / maximum(floor)));
    return f;
}

// Files `measure`'s figure, or {"error": ...} and a line in `errors`.
void figure_or_error(json& figures, json& errors, const std::string& name,
                     const std::function<void()>& measure) {
    try {
        measure();
    } catch (const std::exception& e) {
        figures[name] = {{"error", e.what()}};
        errors.push_back("io." + name + ": " + e.what());
        progress("io." + name + ": " + e.what());
    }
}

}  // namespace

json io_config(const IoBenchOptions& o) {
    return {{"disk_mib", o.disk_mib},
            {"seq_qd", o.seq_qd},
            {"rand_qd", o.rand_qd},
            {"blk_seconds", o.blk_seconds},
            {"blk_reps", o.blk_reps},
            {"http_seconds", o.http_seconds},
            {"http_connections", o.http_connections},
            {"http_reps", o.http_reps},
            {"stream_mib", o.stream_mib},
            {"stream_reps", o.stream_reps},
            {"page_cache", "warm for both sides"},
            {"platform", "process"}};
}

void io_benchmarks(const IoBenchOptions& o, json& figures, json& errors) {
    std::optional<TempDir> blk_dir;
    std::string image;
    const std::pair<const char*, Pattern> block[] = {{"blk_seq_read", Pattern::SeqRead},
                                                     {"blk_seq_write", Pattern::SeqWrite},
                                                     {"blk_rand_read", Pattern::RandRead}};
    try {
        blk_dir.emplace("xenolith-io");
        image = *blk_dir / "disk.img";
        progress("io: writing a " + std::to_string(o.disk_mib) + " MiB image in " +
                 blk_dir->path());
        make_image(image, o.disk_mib);
    } catch (const std::exception& e) {
        blk_dir.reset();
        for (const auto& [name, p] : block) {
            figures[name] = {{"error", std::string("the disk image: ") + e.what()}};
            errors.push_back(std::string("io.") + name + ": the disk image: " + e.what());
        }
    }
    if (blk_dir)
        for (const auto& [name, p] : block)
            figure_or_error(figures, errors, name, [&, name = name, p = p] {
                figures[name] = block_figure(o, *blk_dir, image, p);
            });
    blk_dir.reset();  // the image goes before the network figures

    try {
        http_figures(o, figures);
    } catch (const std::exception& e) {
        for (const char* name : {"http_requests_per_second", "http_p99_latency"}) {
            figures[name] = {{"error", e.what()}};
            errors.push_back(std::string("io.") + name + ": " + e.what());
        }
        progress(std::string("io.http: ") + e.what());
    }
    figure_or_error(figures, errors, "tcp_stream_guest_to_host",
                    [&] { figures["tcp_stream_guest_to_host"] = stream_figure(o); });
}

}  // namespace xenolith::bench
