// The scheduler registry: adding a scheduler is one new file and one line in kSchedulers.
#include <array>
#include <string>

#include "abi/xen.hpp"
#include "sched/error.hpp"
#include "sched/schedulers.hpp"

namespace xenolith::sched {

namespace {

struct Entry {
    std::string_view name;
    std::unique_ptr<Scheduler> (*make)(const Topology&);
};

constexpr std::array kSchedulers = {
    Entry{"credit", make_credit_scheduler},  // the default, first
    Entry{"credit2", make_credit2_scheduler},
    Entry{"rtds", make_rtds_scheduler},
    Entry{"arinc653", make_arinc653_scheduler},
    Entry{"null", make_null_scheduler},
};

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(std::string_view name, const Topology& topology) {
    for (const Entry& e : kSchedulers)
        if (e.name == name) return e.make(topology);
    std::string known;
    for (const Entry& e : kSchedulers) known += (known.empty() ? "" : ", ") + std::string(e.name);
    throw SchedError("unknown scheduler '" + std::string(name) + "' (known: " + known + ")",
                     XEN_EINVAL);
}

std::vector<std::string_view> scheduler_names() {
    std::vector<std::string_view> names;
    names.reserve(kSchedulers.size());
    for (const Entry& e : kSchedulers) names.push_back(e.name);
    return names;
}

}  // namespace xenolith::sched
