// A set of host CPUs (Xen's cpumask_t): affinities, pool membership, idle masks.
// A value type: copy it freely, it is 128 bytes.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace xenolith::sched {

using Cpu = unsigned;

class CpuSet {
public:
    static constexpr Cpu kMaxCpus = 1024;

    CpuSet() = default;
    CpuSet(std::initializer_list<Cpu> cpus);
    // Every CPU Xenolith can address: the default affinity ("any CPU").
    static CpuSet all();
    // CPUs 0 .. n-1.
    static CpuSet first_n(Cpu n);
    static CpuSet from(const std::vector<Cpu>& cpus);

    // add() and contains() take any value; CPUs >= kMaxCpus are never members and
    // add() throws SchedError(EINVAL) for them.
    bool contains(Cpu cpu) const;
    void add(Cpu cpu);
    void remove(Cpu cpu);

    bool empty() const;
    Cpu count() const;
    std::optional<Cpu> first() const;
    // The smallest member >= cpu.
    std::optional<Cpu> next_from(Cpu cpu) const;
    std::vector<Cpu> list() const;

    CpuSet operator&(const CpuSet& o) const;
    CpuSet operator|(const CpuSet& o) const;
    CpuSet operator-(const CpuSet& o) const;  // members of *this not in o
    bool intersects(const CpuSet& o) const { return !(*this & o).empty(); }
    bool is_subset_of(const CpuSet& o) const { return (*this - o).empty(); }
    bool operator==(const CpuSet&) const = default;

    // xl's notation: "0-3,6"; "all" for all(); "none" for the empty set.
    std::string to_string() const;

    class Iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Cpu;
        using difference_type = std::ptrdiff_t;
        using pointer = const Cpu*;
        using reference = Cpu;
        Iterator() = default;
        Iterator(const CpuSet* set, std::optional<Cpu> at) : set_(set), at_(at) {}
        Cpu operator*() const { return *at_; }
        Iterator& operator++() {
            at_ = set_->next_from(*at_ + 1);
            return *this;
        }
        Iterator operator++(int) {
            Iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const Iterator& o) const { return at_ == o.at_; }

    private:
        const CpuSet* set_ = nullptr;
        std::optional<Cpu> at_;
    };
    Iterator begin() const { return Iterator(this, first()); }
    Iterator end() const { return Iterator(this, std::nullopt); }

private:
    static constexpr unsigned kWords = kMaxCpus / 64;
    std::array<std::uint64_t, kWords> words_{};
};

}  // namespace xenolith::sched
