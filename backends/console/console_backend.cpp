#include "backends/console/console_backend.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>

#include "base/error.hpp"

namespace xenolith::backends {

namespace {

template <typename T>
T load_acquire(T& v) {
    return std::atomic_ref<T>(v).load(std::memory_order_acquire);
}
template <typename T>
void store_release(T& v, T value) {
    std::atomic_ref<T>(v).store(value, std::memory_order_release);
}

// Bounded so that input nobody reads cannot grow without limit.
constexpr size_t kMaxPendingInput = 64 * 1024;

}  // namespace

ConsoleBackend::ConsoleBackend(std::shared_ptr<hv::Domain> domain, uint32_t port, Sink sink)
    : channel_(domain, port),
      ring_page_(domain->grant_table().map(GNTTAB_RESERVED_CONSOLE, 0, false)),
      ring_(nullptr),
      sink_(std::move(sink)) {
    if (!ring_page_)
        throw Error("domain " + std::to_string(domain->id()) +
                    ": the console ring grant cannot be mapped (GNTST " +
                    std::to_string(ring_page_.status()) + ")");
    ring_ = reinterpret_cast<xencons_interface*>(ring_page_.writable_page().data());
    stop_.reset(static_cast<int>(check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")));
    thread_ = std::thread([this] { run(); });
}

ConsoleBackend::~ConsoleBackend() {
    uint64_t one = 1;
    ssize_t rc = ::write(stop_.get(), &one, sizeof one);
    (void)rc;
    if (thread_.joinable()) thread_.join();
    drain();
}

void ConsoleBackend::run() {
    pollfd fds[2] = {{channel_.fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents) return;
        channel_.consume();
        bool moved;
        {
            std::lock_guard lock(mutex_);
            moved = drain_output_locked();
            moved |= push_input_locked();
        }
        // Tell the guest there is room (or input): a writer waiting for space wakes up.
        if (moved) channel_.notify();
    }
}

void ConsoleBackend::drain() {
    bool moved;
    {
        std::lock_guard lock(mutex_);
        moved = drain_output_locked();
    }
    if (moved) channel_.notify();
}

bool ConsoleBackend::broken() const {
    std::lock_guard lock(mutex_);
    return broken_;
}

bool ConsoleBackend::drain_output_locked() {
    if (broken_) return false;
    XENCONS_RING_IDX cons = load_acquire(ring_->out_cons);
    XENCONS_RING_IDX prod = load_acquire(ring_->out_prod);
    XENCONS_RING_IDX used = prod - cons;
    if (used == 0) return false;
    if (used > sizeof ring_->out) {
        // Indices no honest producer can reach: stop reading, as xenconsoled does.
        broken_ = true;
        sink_("\n[xenolith: console ring indices corrupted by the guest; console disconnected]\n");
        return false;
    }
    std::string text;
    text.reserve(used);
    for (XENCONS_RING_IDX i = cons; i != prod; ++i)
        text.push_back(ring_->out[MASK_XENCONS_IDX(i, ring_->out)]);
    store_release(ring_->out_cons, prod);
    sink_(text);
    return true;
}

bool ConsoleBackend::push_input_locked() {
    if (broken_ || pending_input_.empty()) return false;
    XENCONS_RING_IDX cons = load_acquire(ring_->in_cons);
    XENCONS_RING_IDX prod = load_acquire(ring_->in_prod);
    XENCONS_RING_IDX used = prod - cons;
    if (used > sizeof ring_->in) {
        broken_ = true;
        return false;
    }
    size_t room = sizeof ring_->in - used, n = std::min(room, pending_input_.size());
    for (size_t i = 0; i < n; ++i)
        ring_->in[MASK_XENCONS_IDX(prod + i, ring_->in)] = pending_input_[i];
    store_release(ring_->in_prod, static_cast<XENCONS_RING_IDX>(prod + n));
    pending_input_.erase(0, n);
    return n > 0;
}

void ConsoleBackend::input(std::string_view bytes) {
    bool moved;
    {
        std::lock_guard lock(mutex_);
        size_t room = kMaxPendingInput > pending_input_.size() ? kMaxPendingInput - pending_input_.size() : 0;
        pending_input_.append(bytes.substr(0, room));
        moved = push_input_locked();
    }
    if (moved) channel_.notify();
}

}  // namespace xenolith::backends
