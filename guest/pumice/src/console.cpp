// The console (docs/pumice.md, "Console"): the Xen PV console ring when the builder gives
// the domain one, HYPERVISOR_console_io otherwise, before the ring is connected, and for
// panics (the emergency console).
#include <pumice/console.hpp>
#include <pumice/cpu.hpp>
#include <pumice/pumice.hpp>
#include <pumice/xencons_ring.hpp>

namespace pumice::console {
namespace {

// A writer that cannot sleep re-checks the ring this often even without an event.
constexpr uint64_t kPollSliceNs = 10 * time::kNsPerMs;
// How long a panic waits for the backend to take what was written before it.
constexpr uint64_t kEmergencyDrainNs = 500 * time::kNsPerMs;
// Without a ring there is no input event: read_blocking() looks this often.
constexpr uint64_t kConsoleIoInputPollNs = 10 * time::kNsPerMs;

// Lines are written whole, so a whole line must fit in the ring.
static_assert(kLineBufferSize <= xencons::kOutSize);

xencons_interface* g_ring;  // set once by init(); null: console_io only
evtchn_port_t g_port;       // the console event channel (bound to vCPU 0)
bool g_ring_broken;         // out indices corrupt: output went back to console_io
bool g_emergency;           // emergency(): output goes to console_io for good

SpinLock g_write_lock;      // ring producer; keeps console_io lines whole too
SpinLock g_emergency_lock;  // emergency output never waits behind the ring
SpinLock g_read_lock;       // ring consumer
WaitQueue g_space;          // writers waiting for room in `out`
WaitQueue g_input;          // readers waiting for `in`

xencons_interface* ring() {
    return __atomic_load_n(&g_ring, __ATOMIC_ACQUIRE);
}
bool ring_broken() {
    return __atomic_load_n(&g_ring_broken, __ATOMIC_ACQUIRE);
}
bool in_emergency() {
    return __atomic_load_n(&g_emergency, __ATOMIC_ACQUIRE);
}

void console_io_write(const char* text, size_t len) {
    hv::console_io(CONSOLEIO_write, static_cast<unsigned>(len), text);
}

// The backend signals both room in `out` and data in `in` on the one channel.
void on_console_event(evtchn_port_t, void*) {
    g_space.wake_all();
    g_input.wake_all();
}

// A thread (not the idle loop, not an event handler) that had events enabled: it holds no
// spinlock a handler may need, so it can sleep on a WaitQueue.
bool can_sleep(uint8_t saved_mask) {
    if (saved_mask) return false;
    Cpu& cpu = this_cpu();
    return cpu.current && cpu.current != cpu.idle;
}

// For contexts that cannot sleep on a WaitQueue: sleeps the vCPU in the hypervisor
// (SCHEDOP_poll on the console port) until ready() or deadline_ns (0: none), with events
// masked by the caller. The port's pending bit is cleared before each check, or a stale event
// would end every poll at once; with `wake` the handler's work is done here instead, so no
// sleeping thread misses it. Returns ready().
template <typename Ready>
bool poll_until(Ready ready, uint64_t deadline_ns, bool wake) {
    while (!ready()) {
        uint64_t now = time::now_ns();
        if (deadline_ns && now >= deadline_ns) return false;
        events::clear_pending(g_port);
        if (wake) on_console_event(g_port, nullptr);
        if (ready()) break;
        uint64_t until = now + kPollSliceNs;
        if (deadline_ns && deadline_ns < until) until = deadline_ns;
        events::poll(g_port, until);
    }
    return true;
}

// Writes one line (at most kLineBufferSize bytes) whole: through the ring once it has room
// for all of it, else through console_io.
void write_line(const char* text, size_t len, bool sleep_ok) {
    if (!len) return;
    for (;;) {
        if (in_emergency()) {
            g_emergency_lock.lock();
            console_io_write(text, len);
            g_emergency_lock.unlock();
            return;
        }
        g_write_lock.lock();
        xencons_interface* r = ring();
        if (!r || ring_broken()) {
            console_io_write(text, len);
            g_write_lock.unlock();
            return;
        }
        if (xencons::out_corrupt(*r)) {
            // The backend moved out_cons where no honest consumer can: never trust it again.
            __atomic_store_n(&g_ring_broken, true, __ATOMIC_RELEASE);
            static constexpr char kMsg[] =
                "pumice: console ring indices corrupt; output continues on console_io\n";
            console_io_write(kMsg, sizeof(kMsg) - 1);
            console_io_write(text, len);
            g_write_lock.unlock();
            g_space.wake_all();
            return;
        }
        if (xencons::out_space(*r) >= len) {
            xencons::out_write(*r, text, len);
            g_write_lock.unlock();
            events::notify(g_port);
            return;
        }
        // Full: wait for the backend to make room, without the lock so that other vCPUs
        // wait (asleep) too rather than spin.
        g_write_lock.unlock();
        auto ready = [r, len] {
            return ring_broken() || in_emergency() || xencons::out_corrupt(*r) ||
                   xencons::out_space(*r) >= len;
        };
        if (sleep_ok)
            g_space.wait_until(ready);
        else
            poll_until(ready, 0, true);
    }
}

// Takes this vCPU's buffered line out of the buffer before writing it: a writer may sleep,
// and other threads of this vCPU then fill the buffer again.
void flush_locked(Cpu& cpu, bool sleep_ok) {
    size_t len = cpu.line_len;
    if (!len) return;
    char line[kLineBufferSize];
    memcpy(line, cpu.line, len);
    cpu.line_len = 0;
    write_line(line, len, sleep_ok);
}

}  // namespace

// Events are masked while the per-vCPU buffer is in use: an event handler that prints
// would otherwise interleave with the code it interrupted.
void write(const char* text, size_t len) {
    uint8_t saved = events::mask_local();
    bool sleep_ok = can_sleep(saved);
    Cpu& cpu = this_cpu();  // a thread never changes vCPU, even if it sleeps below
    for (size_t i = 0; i < len; ++i) {
        cpu.line[cpu.line_len++] = text[i];
        if (text[i] == '\n' || cpu.line_len == kLineBufferSize) flush_locked(cpu, sleep_ok);
    }
    events::restore_local(saved);
}

void write(const char* text) {
    write(text, strlen(text));
}

void flush() {
    uint8_t saved = events::mask_local();
    flush_locked(this_cpu(), can_sleep(saved));
    events::restore_local(saved);
}

long read(char* buf, size_t len) {
    xencons_interface* r = ring();
    if (!r) return hv::console_io(CONSOLEIO_read, static_cast<unsigned>(len), buf);
    size_t n;
    {
        IrqSpinGuard guard(g_read_lock);
        n = xencons::in_read(*r, buf, len);
    }
    if (n) events::notify(g_port);  // the backend may be holding more input for the room
    return static_cast<long>(n);
}

long read_blocking(char* buf, size_t len) {
    if (!len) return 0;
    for (;;) {
        long n = read(buf, len);
        if (n != 0) return n;
        if (xencons_interface* r = ring())
            g_input.wait_until([r] { return xencons::in_used(*r) != 0; });
        else
            sleep_ns(kConsoleIoInputPollNs);
    }
}

long getline(char* buf, size_t size) {
    if (!buf || size < 2) return -XEN_EINVAL;
    size_t len = 0;
    if (xencons_interface* r = ring()) {
        // Peek for a whole line in the ring and consume exactly that: no bytes of the next
        // line are held back anywhere, so read() and getline() can be mixed.
        for (;;) {
            XENCONS_RING_IDX seen;
            {
                IrqSpinGuard guard(g_read_lock);
                seen = xencons::load_acquire(r->in_prod);
                size_t n = xencons::in_line_length(*r, size - 1);
                len = xencons::in_read(*r, buf, n);  // n == 0: only drops corrupt input
            }
            if (len) {
                events::notify(g_port);
                break;
            }
            g_input.wait_until([r, seen] { return xencons::load_acquire(r->in_prod) != seen; });
        }
    } else {
        while (len < size - 1) {
            long n = read_blocking(buf + len, 1);
            if (n < 0) return n;
            if (buf[len++] == '\n') break;
        }
    }
    if (buf[len - 1] == '\n') {
        --len;
        if (len && buf[len - 1] == '\r') --len;
    }
    buf[len] = '\0';
    return static_cast<long>(len);
}

bool using_ring() {
    return ring() && !ring_broken() && !in_emergency();
}

bool drain(uint64_t timeout_ns) {
    xencons_interface* r = ring();
    if (!r) return true;
    uint8_t saved = events::mask_local();
    // A caller with events enabled holds no lock a wake could need: let it wake writers.
    bool done = poll_until([r] { return xencons::out_drained(*r); }, time::now_ns() + timeout_ns,
                           saved == 0);
    events::restore_local(saved);
    return done;
}

void emergency() {
    if (__atomic_exchange_n(&g_emergency, true, __ATOMIC_ACQ_REL)) {
        flush();
        return;
    }
    if (xencons_interface* r = ring()) {
        // May run anywhere (even under a scheduler lock): poll, never wake anyone.
        uint8_t saved = events::mask_local();
        poll_until([r] { return xencons::out_drained(*r); }, time::now_ns() + kEmergencyDrainNs,
                   false);
        events::restore_local(saved);
    }
    flush();
}

void init() {
    const start_info_t& si = xen_start_info();
    if (si.flags & SIF_INITDOMAIN) return;  // console.dom0 is another layout
    xen_pfn_t pfn = si.console.domU.mfn;
    evtchn_port_t port = si.console.domU.evtchn;
    if (!pfn) return;  // no ring: console_io
    if (pfn >= si.nr_pages) {
        printf("pumice: console ring pfn 0x%lx is outside RAM; using console_io\n",
               static_cast<unsigned long>(pfn));
        return;
    }
    long rc = events::bind(port, 0, on_console_event, nullptr);
    if (rc < 0) {
        printf("pumice: cannot bind console port %u (%ld); using console_io\n", port, rc);
        return;
    }
    g_port = port;
    // Auto-translated: the pfn is a guest-physical frame, mapped at VA = PA.
    __atomic_store_n(&g_ring, reinterpret_cast<xencons_interface*>(pfn * mem::kPageSize),
                     __ATOMIC_RELEASE);
}

}  // namespace pumice::console
