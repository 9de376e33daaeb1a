// Console output and input through HYPERVISOR_console_io.
#include <pumice/console.hpp>
#include <pumice/cpu.hpp>
#include <pumice/hypercall.hpp>
#include <pumice/string.hpp>

namespace pumice::console {
namespace {

// Orders whole lines from different vCPUs on the way out.
SpinLock g_write_lock;

void write_out(const char* text, size_t len) {
    g_write_lock.lock();
    hv::console_io(CONSOLEIO_write, static_cast<unsigned>(len), text);
    g_write_lock.unlock();
}

void flush_locked(Cpu& cpu) {
    if (cpu.line_len) write_out(cpu.line, cpu.line_len);
    cpu.line_len = 0;
}

}  // namespace

// Events are masked while the per-vCPU buffer is in use: an event handler that prints
// would otherwise interleave with the code it interrupted.
void write(const char* text, size_t len) {
    uint8_t saved = events::mask_local();
    Cpu& cpu = this_cpu();
    for (size_t i = 0; i < len; ++i) {
        cpu.line[cpu.line_len++] = text[i];
        if (text[i] == '\n' || cpu.line_len == kLineBufferSize) flush_locked(cpu);
    }
    events::restore_local(saved);
}

void write(const char* text) {
    write(text, strlen(text));
}

void flush() {
    uint8_t saved = events::mask_local();
    flush_locked(this_cpu());
    events::restore_local(saved);
}

long read(char* buf, size_t len) {
    return hv::console_io(CONSOLEIO_read, static_cast<unsigned>(len), buf);
}

}  // namespace pumice::console
