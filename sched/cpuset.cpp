#include "sched/cpuset.hpp"

#include <bit>

#include "abi/xen.hpp"
#include "sched/error.hpp"

namespace xenolith::sched {

CpuSet::CpuSet(std::initializer_list<Cpu> cpus) {
    for (Cpu c : cpus) add(c);
}

CpuSet CpuSet::all() {
    CpuSet s;
    s.words_.fill(~std::uint64_t{0});
    return s;
}

CpuSet CpuSet::first_n(Cpu n) {
    CpuSet s;
    for (Cpu c = 0; c < n; ++c) s.add(c);
    return s;
}

CpuSet CpuSet::from(const std::vector<Cpu>& cpus) {
    CpuSet s;
    for (Cpu c : cpus) s.add(c);
    return s;
}

bool CpuSet::contains(Cpu cpu) const {
    return cpu < kMaxCpus && (words_[cpu / 64] >> (cpu % 64)) & 1;
}

void CpuSet::add(Cpu cpu) {
    if (cpu >= kMaxCpus)
        throw SchedError("CPU " + std::to_string(cpu) + " is beyond the " +
                             std::to_string(kMaxCpus) + " CPUs Xenolith can address",
                         XEN_EINVAL);
    words_[cpu / 64] |= std::uint64_t{1} << (cpu % 64);
}

void CpuSet::remove(Cpu cpu) {
    if (cpu < kMaxCpus) words_[cpu / 64] &= ~(std::uint64_t{1} << (cpu % 64));
}

bool CpuSet::empty() const {
    for (auto w : words_)
        if (w) return false;
    return true;
}

Cpu CpuSet::count() const {
    Cpu n = 0;
    for (auto w : words_) n += static_cast<Cpu>(std::popcount(w));
    return n;
}

std::optional<Cpu> CpuSet::first() const { return next_from(0); }

std::optional<Cpu> CpuSet::next_from(Cpu cpu) const {
    if (cpu >= kMaxCpus) return std::nullopt;
    unsigned word = cpu / 64;
    std::uint64_t bits = words_[word] & (~std::uint64_t{0} << (cpu % 64));
    while (true) {
        if (bits) return word * 64 + static_cast<Cpu>(std::countr_zero(bits));
        if (++word == kWords) return std::nullopt;
        bits = words_[word];
    }
}

std::vector<Cpu> CpuSet::list() const { return std::vector<Cpu>(begin(), end()); }

CpuSet CpuSet::operator&(const CpuSet& o) const {
    CpuSet r;
    for (unsigned i = 0; i < kWords; ++i) r.words_[i] = words_[i] & o.words_[i];
    return r;
}

CpuSet CpuSet::operator|(const CpuSet& o) const {
    CpuSet r;
    for (unsigned i = 0; i < kWords; ++i) r.words_[i] = words_[i] | o.words_[i];
    return r;
}

CpuSet CpuSet::operator-(const CpuSet& o) const {
    CpuSet r;
    for (unsigned i = 0; i < kWords; ++i) r.words_[i] = words_[i] & ~o.words_[i];
    return r;
}

std::string CpuSet::to_string() const {
    if (*this == all()) return "all";
    if (empty()) return "none";
    std::string out;
    auto at = first();
    while (at) {
        Cpu lo = *at, hi = lo;
        while (hi + 1 < kMaxCpus && contains(hi + 1)) ++hi;
        if (!out.empty()) out += ',';
        out += std::to_string(lo);
        if (hi > lo) out += '-' + std::to_string(hi);
        at = next_from(hi + 1);
    }
    return out;
}

}  // namespace xenolith::sched
