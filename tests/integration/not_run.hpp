// A test that this host's platform cannot run (it said why: platform::DebugSupport) is
// counted as not run, never as passed: gtest marks it skipped with the reason, ctest shows
// it as "Not Run" (SKIP_REGULAR_EXPRESSION in CMakeLists.txt) and tests/run-suites.sh
// counts it apart. The nested host's suite treats a skip as a failure, so a test that
// cannot run there is left out by name with its reason (tests/nested/excluded-tests.txt).
#pragma once

#include <gtest/gtest.h>

#include <string>

// In a test body: returns from the test, not run, when `why` is not empty.
#define XENOLITH_NOT_RUN_UNLESS_AVAILABLE(why)                                         \
    do {                                                                               \
        const std::string xenolith_why_ = (why);                                       \
        if (!xenolith_why_.empty()) GTEST_SKIP() << "not run here: " << xenolith_why_; \
    } while (0)
