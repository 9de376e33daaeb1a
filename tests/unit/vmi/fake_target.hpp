// A Target with no guest behind it, for the gdb server's tests and fuzzer: two threads, a
// memory image, and a model of execution that is just enough for gdb's run control. A step
// advances RIP by one byte; a continue runs to the nearest software breakpoint above RIP,
// or, with none ahead, until `interrupted` says so. Every call is logged.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "vmi/gdb/gdb_target.hpp"

namespace xenolith::vmi::gdb::testing {

class FakeTarget : public Target {
  public:
    static constexpr uint64_t kImageBase = 0x401000;
    static constexpr size_t kImageSize = 0x2000;

    FakeTarget() : memory(kImageSize) {
        for (size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<uint8_t>(i * 7 + 3);
        for (uint32_t t : thread_ids) {
            Registers r;
            r.rax = 0x1111000000000000ull + t;
            r.rsp = 0x7ff000 - 0x100 * t;
            r.rip = kImageBase + 0x10 * t;
            r.eflags = 0x246;
            r.cs = 0x10;
            r.ss = 0x18;
            r.fs_base = 0xfff0000 + t;
            regs[t] = r;
        }
    }

    std::vector<uint32_t> threads() override { return thread_ids; }

    bool read_registers(uint32_t thread, Registers& out) override {
        auto it = regs.find(thread);
        if (it == regs.end()) return false;
        out = it->second;
        return true;
    }
    bool write_registers(uint32_t thread, const Registers& in) override {
        auto it = regs.find(thread);
        if (it == regs.end() || refuse_register_writes) return false;
        it->second = in;
        log.push_back("write_registers " + std::to_string(thread));
        return true;
    }

    size_t read_memory(uint32_t thread, uint64_t addr, std::span<uint8_t> out) override {
        last_memory_thread = thread;
        size_t n = available(addr, out.size());
        if (n > 0) std::memcpy(out.data(), &memory[addr - kImageBase], n);
        return n;
    }
    size_t write_memory(uint32_t thread, uint64_t addr, std::span<const uint8_t> in) override {
        last_memory_thread = thread;
        size_t n = available(addr, in.size());
        if (n > 0) std::memcpy(&memory[addr - kImageBase], in.data(), n);
        return n;
    }

    bool insert_sw_breakpoint(uint64_t addr) override {
        log.push_back("insert_sw " + hex(addr));
        if (refuse_breakpoints) return false;
        sw_breakpoints.insert(addr);
        return true;
    }
    bool remove_sw_breakpoint(uint64_t addr) override {
        log.push_back("remove_sw " + hex(addr));
        return sw_breakpoints.erase(addr) > 0;
    }
    bool insert_hw_breakpoint(uint64_t addr) override {
        if (!hw_supported) return false;
        log.push_back("insert_hw " + hex(addr));
        hw_breakpoints.insert(addr);
        return true;
    }
    bool remove_hw_breakpoint(uint64_t addr) override {
        if (!hw_supported) return false;
        log.push_back("remove_hw " + hex(addr));
        return hw_breakpoints.erase(addr) > 0;
    }

    void resume(const std::vector<ResumeAction>& actions) override {
        std::string line = "resume";
        for (const auto& a : actions)
            line += std::string(" ") + (a.kind == ResumeAction::Kind::Step ? "s" : "c") + ":" +
                    std::to_string(a.thread);
        log.push_back(line);
        resumed = actions;
    }

    StopReason wait(const std::function<bool()>& interrupted) override {
        if (!scripted_stops.empty()) {
            StopReason stop = scripted_stops.front();
            scripted_stops.pop_front();
            return stop;
        }
        for (const auto& a : resumed) {
            if (a.kind != ResumeAction::Kind::Step) continue;
            uint32_t t = a.thread != 0 ? a.thread : thread_ids.front();
            regs[t].rip += 1;
            return StopReason{StopReason::Kind::Signal, 5, t};
        }
        uint32_t runner = resumed.front().thread != 0 ? resumed.front().thread : thread_ids.front();
        auto next = sw_breakpoints.upper_bound(regs[runner].rip);
        if (next != sw_breakpoints.end()) {
            regs[runner].rip = *next;
            StopReason stop{StopReason::Kind::Signal, 5, runner};
            stop.sw_breakpoint = true;
            return stop;
        }
        while (!interrupted()) {
            ++interrupt_polls;
            if (poll_sleep_us > 0) ::usleep(poll_sleep_us);
        }
        log.push_back("interrupted");
        return StopReason{StopReason::Kind::Signal, 2, runner};
    }

    void detach() override {
        log.push_back("detach");
        sw_breakpoints.clear();
        hw_breakpoints.clear();
    }
    void kill() override { log.push_back("kill"); }

    bool logged(const std::string& line) const {
        return std::find(log.begin(), log.end(), line) != log.end();
    }

    std::vector<uint32_t> thread_ids{1, 2};
    std::map<uint32_t, Registers> regs;
    std::vector<uint8_t> memory;
    std::set<uint64_t> sw_breakpoints, hw_breakpoints;
    bool hw_supported = false;
    bool refuse_register_writes = false;
    bool refuse_breakpoints = false;
    std::deque<StopReason> scripted_stops;
    std::vector<ResumeAction> resumed;
    std::vector<std::string> log;
    uint32_t last_memory_thread = 0;
    std::atomic<unsigned> interrupt_polls = 0;  // read by tests on another thread
    unsigned poll_sleep_us = 1000;

  private:
    static std::string hex(uint64_t v) {
        char buf[24];
        std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(v));
        return buf;
    }
    size_t available(uint64_t addr, size_t want) const {
        if (addr < kImageBase || addr >= kImageBase + kImageSize) return 0;
        return std::min<uint64_t>(want, kImageBase + kImageSize - addr);
    }
};

}  // namespace xenolith::vmi::gdb::testing
