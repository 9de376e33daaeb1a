// The Xen errno a sched call fails with (0 if it succeeds): tests check error codes in one
// line each.
#pragma once

#include "sched/error.hpp"

namespace xenolith::sched::testing {

template <class F>
int errno_of(F&& f) {
    try {
        f();
    } catch (const SchedError& e) {
        return e.xen_errno();
    }
    return 0;
}

// The message a sched call fails with ("" if it succeeds).
template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const SchedError& e) {
        return e.what();
    }
    return "";
}

}  // namespace xenolith::sched::testing
