#include "platform/process/stub_process.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "base/error.hpp"
#include "platform/process/stub/protocol.h"

namespace xenolith::platform::process {

namespace {

constexpr uint64_t kPage = 4096;
// How long the stub may take to set up (map RAM, start threads) or to seal itself.
constexpr int kHelloTimeoutMs = 10'000;
constexpr auto kSealTimeout = std::chrono::seconds(10);

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}

const char* step_name(int step) {
    switch (step) {
        case XENOLITH_STUB_STEP_ARGS:
            return "parse its arguments";
        case XENOLITH_STUB_STEP_MAP_RAM:
            return "map guest RAM";
        case XENOLITH_STUB_STEP_DROP_PRIVILEGES:
            return "drop its privileges";
        case XENOLITH_STUB_STEP_THREADS:
            return "start its vCPU threads";
        case XENOLITH_STUB_STEP_HELLO:
            return "report to the platform";
        case XENOLITH_STUB_STEP_GO:
            return "read the platform's go message";
        case XENOLITH_STUB_STEP_CLOSE_FDS:
            return "close its descriptors";
        case XENOLITH_STUB_STEP_NO_NEW_PRIVS:
            return "set no_new_privs";
        case XENOLITH_STUB_STEP_SECCOMP:
            return "install its seccomp filter";
        case XENOLITH_STUB_STEP_UNMAP:
            return "unmap itself";
        default:
            return "do an unknown step";
    }
}

std::string describe_status(int status) {
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    int code = WEXITSTATUS(status);
    if (code > XENOLITH_STUB_EXIT_BASE)
        return std::string("it failed to ") + step_name(code - XENOLITH_STUB_EXIT_BASE);
    return "exit status " + std::to_string(code);
}

// The seccomp filter the stub loads last: every system call traps (SIGSYS, which its
// tracer reports as a guest fault), 32-bit ones (int $0x80, sysenter) included, except
// the one munmap with which the stub removes itself.
std::vector<sock_filter> build_filter(uint64_t ram_end) {
    std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_TRAP),
                                                         seccomp_release);
    if (!ctx) throw Error("seccomp_init failed");
    int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(munmap), 2,
                              SCMP_A0(SCMP_CMP_EQ, ram_end),
                              SCMP_A1(SCMP_CMP_EQ, XENOLITH_STUB_USER_TOP - ram_end));
    if (rc != 0) throw SystemError("building the stub's seccomp filter", -rc);
    // libseccomp 2.5 exports only to a descriptor.
    UniqueFd mem(static_cast<int>(
        check_syscall(::memfd_create("seccomp-bpf", MFD_CLOEXEC), "memfd_create")));
    rc = seccomp_export_bpf(ctx.get(), mem.get());
    if (rc != 0) throw SystemError("exporting the stub's seccomp filter", -rc);
    off_t size = check_syscall(::lseek(mem.get(), 0, SEEK_END), "lseek");
    if (size <= 0 || size % sizeof(sock_filter) != 0 ||
        size / sizeof(sock_filter) > XENOLITH_STUB_MAX_FILTER)
        throw Error("the stub's seccomp filter has an unexpected size");
    std::vector<sock_filter> prog(size / sizeof(sock_filter));
    if (::pread(mem.get(), prog.data(), size, 0) != size)
        throw SystemError("reading the stub's seccomp filter", errno);
    return prog;
}

// Spawn attributes: an empty signal mask and default dispositions, whatever the calling
// thread has (a blocked kick signal would never stop the stub), and a session of its own
// (terminal signals are not the stub's business).
class SpawnAttr {
  public:
    SpawnAttr() {
        posix_spawnattr_init(&attr_);
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setsigmask(&attr_, &none);
        posix_spawnattr_setsigdefault(&attr_, &all);
        posix_spawnattr_setflags(
            &attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    }
    ~SpawnAttr() { posix_spawnattr_destroy(&attr_); }
    const posix_spawnattr_t* get() const { return &attr_; }

  private:
    posix_spawnattr_t attr_;
};

// The stub gets exactly RAM as fd 3 and the control socket as fd 4. The sources are
// duplicated above 4 first, so that neither dup2 can overwrite the other's source.
class SpawnFiles {
  public:
    SpawnFiles(int ram_fd, int control_fd)
        : ram_(dup_high(ram_fd)), control_(dup_high(control_fd)) {
        posix_spawn_file_actions_init(&actions_);
        posix_spawn_file_actions_adddup2(&actions_, ram_.get(), XENOLITH_STUB_RAM_FD);
        posix_spawn_file_actions_adddup2(&actions_, control_.get(), XENOLITH_STUB_CONTROL_FD);
        posix_spawn_file_actions_addclosefrom_np(&actions_, XENOLITH_STUB_CONTROL_FD + 1);
    }
    ~SpawnFiles() { posix_spawn_file_actions_destroy(&actions_); }
    const posix_spawn_file_actions_t* get() const { return &actions_; }

  private:
    static UniqueFd dup_high(int fd) {
        return UniqueFd(
            static_cast<int>(check_syscall(::fcntl(fd, F_DUPFD_CLOEXEC, 10), "fcntl(F_DUPFD)")));
    }
    UniqueFd ram_, control_;
    posix_spawn_file_actions_t actions_;
};

void reap(pid_t pid) {
    for (;;) {
        int status;
        pid_t r = ::waitpid(pid, &status, __WALL);
        if (r == pid && (WIFEXITED(status) || WIFSIGNALED(status))) return;
        if (r < 0 && errno != EINTR) return;  // ECHILD: already reaped, or not ours to reap
    }
}

}  // namespace

uint64_t lowest_guest_address() {
    static const uint64_t lowest = [] {
        uint64_t min_addr = kPage;
        std::ifstream in("/proc/sys/vm/mmap_min_addr");
        in >> min_addr;
        min_addr = (min_addr + kPage - 1) / kPage * kPage;
        return std::max(min_addr, kPage);
    }();
    return lowest;
}

StubProcess::StubProcess(const std::string& stub_path, const VmConfig& config) : ram_(config.ram) {
    ram_base_ = lowest_guest_address();
    if (config.vcpus == 0 || config.vcpus > XENOLITH_STUB_MAX_VCPUS)
        throw Error("the process platform runs 1 to " + std::to_string(XENOLITH_STUB_MAX_VCPUS) +
                    " vCPUs per domain, not " + std::to_string(config.vcpus));
    if (ram_.size % kPage != 0 || ram_.size <= ram_base_ || ram_.size >= XENOLITH_STUB_USER_TOP / 2)
        throw Error("guest RAM of " + std::to_string(ram_.size) +
                    " bytes cannot be mapped by a stub (it starts at 0x" + hex(ram_base_) + ")");
    spawn(stub_path, config.ram.fd, config.vcpus);
    try {
        read_hello(config.vcpus);
    } catch (...) {
        terminate();
        throw;
    }
}

StubProcess::~StubProcess() {
    terminate();
}

void StubProcess::spawn(const std::string& stub_path, int ram_fd, uint32_t vcpus) {
    if (::access(stub_path.c_str(), X_OK) != 0)
        throw SystemError("the stub binary " + stub_path + " cannot be run", errno);
    int sv[2];
    check_syscall(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
    control_.reset(sv[0]);
    UniqueFd theirs(sv[1]);
    SpawnFiles files(ram_fd, theirs.get());
    SpawnAttr attr;
    std::string base = hex(ram_base_), end = hex(ram_.size), count = hex(vcpus);
    char* argv[] = {const_cast<char*>("xenolith-stub"), base.data(), end.data(), count.data(),
                    nullptr};
    char* envp[] = {nullptr};
    int rc = ::posix_spawn(&pid_, stub_path.c_str(), files.get(), attr.get(), argv, envp);
    if (rc != 0) throw SystemError("spawning the stub " + stub_path, rc);
}

void StubProcess::read_hello(uint32_t vcpus) {
    pollfd p{control_.get(), POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, kHelloTimeoutMs);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) throw Error("the stub did not report within 10 s");
    xenolith_stub_hello hello{};
    ssize_t n = ::recv(control_.get(), &hello, sizeof hello, 0);
    if (n == 0) fail_with_exit_status("starting");
    if (n != static_cast<ssize_t>(sizeof hello)) throw Error("the stub sent a malformed hello");
    if (hello.err_step != XENOLITH_STUB_OK)
        throw SystemError(std::string("the stub could not ") + step_name(hello.err_step),
                          hello.err_errno);
    if (hello.nr_threads != vcpus) throw Error("the stub started the wrong number of threads");
    tids_.assign(hello.tids, hello.tids + vcpus);
    uffd_ = take_userfaultfd(hello.uffd, hello.uffd_errno,
                             "write-protection (Linux 5.19 or later with "
                             "CONFIG_PTE_MARKER_UFFD_WP is needed)",
                             uffd_error_);
    dirty_uffd_ = take_userfaultfd(hello.dirty_uffd, hello.dirty_uffd_errno,
                                   "asynchronous write-protection (Linux 6.7 or later is needed)",
                                   dirty_uffd_error_);
}

// Before "go": the stub closes every descriptor when it seals itself. An empty UniqueFd
// where there is none, and `why` says why; `purpose` is what the stub opened it for.
UniqueFd StubProcess::take_userfaultfd(int32_t fd_in_stub, int32_t error, const char* purpose,
                                       std::string& why) {
    if (fd_in_stub < 0) {
        why = std::string("the stub could not open a userfaultfd for ") + purpose + ": " +
              std::strerror(error);
        return {};
    }
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    if (!pidfd) {
        why = std::string("pidfd_open of the stub failed: ") + std::strerror(errno);
        return {};
    }
    long fd = ::syscall(SYS_pidfd_getfd, pidfd.get(), fd_in_stub, 0);
    if (fd < 0) {
        why = std::string("pidfd_getfd of the stub's userfaultfd failed: ") + std::strerror(errno);
        return {};
    }
    return UniqueFd(static_cast<int>(fd));
}

// The whole of RAM the guest can reach, for write-protection through `uffd`: registering
// marks the mapping, protecting marks pages. Returns the ioctls the range then allows;
// throws SystemError(`failure`) when refused.
uint64_t StubProcess::register_ram(int uffd, const char* failure) {
    uffdio_register reg{};
    reg.range.start = ram_base_;
    reg.range.len = ram_.size - ram_base_;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) throw SystemError(failure, errno);
    return reg.ioctls;
}

void StubProcess::unregister_ram(int uffd) {
    uffdio_range range{ram_base_, ram_.size - ram_base_};
    if (::ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0)
        throw SystemError("unregistering guest RAM from the stub's userfaultfd", errno);
}

void StubProcess::write_protect(uint64_t page, uint64_t len, bool on) {
    uffdio_writeprotect wp{};
    wp.range.start = page;
    wp.range.len = len;
    wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    if (::ioctl(uffd_.get(), UFFDIO_WRITEPROTECT, &wp) < 0)
        throw SystemError("write-protecting guest pages (UFFDIO_WRITEPROTECT)", errno);
}

void StubProcess::watch_writes(uint64_t gpa, uint64_t len, bool on) {
    std::lock_guard lock(watch_mutex_);
    if (!uffd_) throw Error("page-write events are unavailable: " + uffd_error_);
    const uint64_t first = gpa & ~(kPage - 1);
    if (len == 0 || gpa + len < gpa || first < ram_base_ || gpa + len > ram_.size)
        throw Error("guest-physical 0x" + hex(gpa) + "+0x" + hex(len) +
                    " is not RAM the guest can write");
    const uint64_t end = (gpa + len + kPage - 1) & ~(kPage - 1);
    if (dirty_logging_)
        throw Error(
            "page-write events are unavailable while guest writes are logged for live "
            "migration (the dirty log holds guest RAM's write-protection)");
    if (!uffd_registered_) {
        // The whole of RAM, once.
        const uint64_t ioctls =
            register_ram(uffd_.get(),
                         "page-write events are unavailable: registering guest RAM with the "
                         "userfaultfd (needs CONFIG_PTE_MARKER_UFFD_WP for shared memory)");
        if (!(ioctls & (1ull << _UFFDIO_WRITEPROTECT)))
            throw Error(
                "page-write events are unavailable: this kernel cannot write-protect "
                "shared memory through a userfaultfd");
        uffd_registered_ = true;
    }
    write_protect(first, end - first, on);
    for (uint64_t p = first; p < end; p += kPage) {
        if (on)
            watched_.insert(p);
        else
            watched_.erase(p);
    }
}

bool StubProcess::watched(uint64_t gpa) const {
    std::lock_guard lock(watch_mutex_);
    return watched_.count(gpa & ~(kPage - 1)) != 0;
}

void StubProcess::open_for_write(uint64_t gpa, bool open) {
    std::lock_guard lock(watch_mutex_);
    const uint64_t page = gpa & ~(kPage - 1);
    for (uint64_t p = page; p < page + 2 * kPage; p += kPage)
        if (watched_.count(p)) write_protect(p, kPage, !open);
}

void StubProcess::begin_dirty_log() {
    std::lock_guard lock(watch_mutex_);
    if (dirty_logging_) throw Error("guest writes are already being logged for this VM");
    if (!dirty_uffd_)
        throw Error("guest writes cannot be logged: " + dirty_uffd_error_ +
                    " (soft-dirty bits are no substitute: they cannot be read and cleared at once "
                    "while the guest runs)");
    if (!watched_.empty())
        throw Error(
            "guest writes cannot be logged while pages are watched for page-write events "
            "(introspection)");
    if (uffd_registered_) {
        unregister_ram(uffd_.get());
        uffd_registered_ = false;
    }
    register_ram(dirty_uffd_.get(),
                 "guest writes cannot be logged: registering guest RAM with the stub's "
                 "asynchronous userfaultfd failed");
    dirty_logging_ = true;
}

void StubProcess::end_dirty_log() noexcept {
    std::lock_guard lock(watch_mutex_);
    if (!dirty_logging_) return;
    try {
        unregister_ram(dirty_uffd_.get());
    } catch (const Error&) {
        // Only a stub that is gone refuses (its memory with it): nothing is left to release.
    }
    dirty_logging_ = false;
}

void StubProcess::fail_with_exit_status(const std::string& doing) {
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, __WALL);
    while (r < 0 && errno == EINTR);
    gone_.store(true);
    if (r != pid_ || WIFSTOPPED(status)) {
        ::kill(pid_, SIGKILL);
        reap(pid_);
        throw Error("the stub died while " + doing);
    }
    throw Error("the stub died while " + doing + ": " + describe_status(status));
}

// A new stub thread may not yet have entered its futex wait (it runs a few instructions of
// the stub's text first); if the stub unmapped that text before, the thread would fault,
// untraced, and take the stub down. So "go" waits until every secondary is blocked there.
void StubProcess::wait_until_threads_parked() {
    const auto deadline = std::chrono::steady_clock::now() + kSealTimeout;
    for (size_t i = 1; i < tids_.size(); i++) {
        const std::string path =
            "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(tids_[i]) + "/syscall";
        const std::string parked = std::to_string(SYS_futex) + " ";
        for (;;) {
            std::ifstream in(path);
            std::string line;
            std::getline(in, line);
            if (line.rfind(parked, 0) == 0) break;
            if (!in.is_open() || line.empty()) fail_with_exit_status("starting");  // gone
            if (std::chrono::steady_clock::now() > deadline)
                throw Error("stub thread " + std::to_string(tids_[i]) + " did not park (" + path +
                            ": " + line + ")");
            ::usleep(100);
        }
    }
}

void StubProcess::seal() {
    try {
        wait_until_threads_parked();
        send_go();
        expect_ready_stop();
    } catch (...) {
        std::lock_guard lock(mutex_);
        seal_failed_ = true;
        sealed_cv_.notify_all();
        throw;
    }
    std::lock_guard lock(mutex_);
    sealed_ = true;
    sealed_cv_.notify_all();
}

void StubProcess::wait_sealed() {
    std::unique_lock lock(mutex_);
    if (!sealed_cv_.wait_for(lock, kSealTimeout, [this] { return sealed_ || seal_failed_; }))
        throw Error("vCPU 0 has not started the stub within 10 s; boot it first");
    if (seal_failed_) throw Error("the stub could not be sealed (see vCPU 0)");
}

void StubProcess::send_go() {
    std::vector<sock_filter> filter = build_filter(ram_.size);
    std::vector<uint8_t> msg(sizeof(xenolith_stub_go) + filter.size() * sizeof(sock_filter));
    xenolith_stub_go go{static_cast<uint32_t>(filter.size()), 0};
    std::memcpy(msg.data(), &go, sizeof go);
    std::memcpy(msg.data() + sizeof go, filter.data(), filter.size() * sizeof(sock_filter));
    ssize_t n = ::send(control_.get(), msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(msg.size())) fail_with_exit_status("waiting for go");
    control_.reset();  // the stub closes its end now; ours has nothing more to carry
}

void StubProcess::expect_ready_stop() {
    const pid_t main = tids_.at(0);
    int status = 0;
    pid_t r;
    do r = ::waitpid(main, &status, __WALL);
    while (r < 0 && errno == EINTR);
    if (r != main) throw SystemError("waiting for the stub to seal itself", errno);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        gone_.store(true);
        throw Error("the stub died while sealing itself: " + describe_status(status));
    }
    siginfo_t si{};
    check_syscall(::ptrace(PTRACE_GETSIGINFO, main, nullptr, &si), "PTRACE_GETSIGINFO");
    // Returning from the final munmap fetches an instruction from its own unmapped text.
    uint64_t addr = reinterpret_cast<uint64_t>(si.si_addr);
    if (WSTOPSIG(status) != SIGSEGV || si.si_code != SEGV_MAPERR || addr < ram_.size)
        throw Error(std::string("the stub stopped with ") + strsignal(WSTOPSIG(status)) +
                    " instead of its ready fault while sealing itself");
}

void StubProcess::terminate() noexcept {
    if (gone_.exchange(true) || pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    // Traced threads stay zombies until reaped, and the leader is not reported until the
    // rest of its group is gone: reap the secondaries first.
    for (size_t i = tids_.size(); i-- > 1;) reap(tids_[i]);
    reap(pid_);
}

}  // namespace xenolith::platform::process
