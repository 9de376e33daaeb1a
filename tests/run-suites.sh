#!/usr/bin/env bash
# `make test`: every suite, then one summary of what ran where. Unit tests and the
# integration suites on the process platform (`process.` tests) run on any Linux host. The
# KVM suite (`kvm.` tests, label `kvm`) runs on this host only when its /dev/kvm can run
# guests; the nested AMD-V host (tests/nested/) runs it in any case, so it never goes
# unrun: a host without /dev/kvm is counted and shown, never skipped over.
#
#   tests/run-suites.sh BUILD BUILD_SAN BUILD_FUZZ
set -uo pipefail

BUILD=${1:?usage: run-suites.sh BUILD BUILD_SAN BUILD_FUZZ}
BUILD_SAN=${2:?}
BUILD_FUZZ=${3:?}

declare -a summary=()
total_passed=0
total_failed=0
total_notrun=0
failed_steps=()

note() { summary+=("$1"); }

# run_ctest DIR WHAT [ctest args...]: runs ctest, adds its counts to the totals.
run_ctest() {
    local dir=$1 what=$2 out rc passed failed
    shift 2
    out=$(mktemp)
    ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    # ctest's closing line: "100% tests passed, 0 tests failed out of 612"
    failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
    total=$(sed -n 's/.* tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
    # Tests a platform cannot run here (tests/integration/not_run.hpp): ctest lists them as
    # "did not run" but counts them among the passed; here they are counted apart, with why.
    notrun=$(sed -n '/^The following tests did not run:/,/^$/p' "$out" | grep -c '(Skipped)' || true)
    rm -f "$out"
    if [ -z "$total" ]; then
        failed_steps+=("$what: ctest printed no result")
        note "$what: no result (ctest exit $rc)"
        return
    fi
    passed=$((total - failed - notrun))
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_notrun=$((total_notrun + notrun))
    if [ "$notrun" != 0 ]; then
        note "$what: $passed passed, $failed failed, $notrun not run on this host:"
        # Each one's reason, from gtest's skip message in ctest's log.
        while IFS= read -r line; do note "    $line"; done < <(
            grep -h -o 'not run here: .*' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null |
                sort | uniq -c | sed 's/^ *//')
    else
        note "$what: $passed passed, $failed failed"
    fi
    [ "$rc" = 0 ] || failed_steps+=("$what")
}

probe=$("$BUILD/tests/xenolith-host-probe" 2>&1)
if [ $? = 0 ]; then kvm_here=1; else kvm_here=0; fi
echo "host: $probe"
kvm_tests=$(ctest --test-dir "$BUILD" -N -L kvm | sed -n 's/^Total Tests: //p')

process_tests=$(ctest --test-dir "$BUILD" -N -L process | sed -n 's/^Total Tests: //p')
if [ "$kvm_here" = 1 ]; then
    run_ctest "$BUILD" "unit, process platform ($process_tests) and KVM ($kvm_tests, this host's /dev/kvm)"
else
    run_ctest "$BUILD" "unit and process platform ($process_tests); not the $kvm_tests KVM tests" -LE kvm
    note "KVM suite on this host: 0 of $kvm_tests ($probe); it runs in the nested host below"
fi
run_ctest "$BUILD_SAN" "unit tests under ASan/UBSan"

make --no-print-directory fuzz && note "fuzz: every target clean" || failed_steps+=("fuzz")

nested_out=$(mktemp)
make --no-print-directory test-nested 2>&1 | tee "$nested_out"
nested_rc=${PIPESTATUS[0]}
suite_line=$(grep -a '^NESTED-SUITE:' "$nested_out" | tail -1)
rm -f "$nested_out"
if [ -n "$suite_line" ]; then
    note "nested AMD-V host: ${suite_line#NESTED-SUITE: }"
    n_passed=$(sed -n 's/.* \([0-9]*\) passed.*/\1/p' <<<"$suite_line")
    n_failed=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$suite_line")
    total_passed=$((total_passed + ${n_passed:-0}))
    total_failed=$((total_failed + ${n_failed:-0}))
else
    note "nested AMD-V host: guests scenario (exit $nested_rc), no kvm suite"
    [ "$kvm_here" = 1 ] || failed_steps+=("the kvm suite ran nowhere")
fi
[ "$nested_rc" = 0 ] || failed_steps+=("nested host")

echo
echo "==== what ran where ===="
for line in "${summary[@]}"; do echo "  $line"; done
if [ "${#failed_steps[@]}" -gt 0 ]; then
    echo "FAILED: ${failed_steps[*]}"
fi
echo "total: $total_passed passed, $total_failed failed, $total_notrun not run (reasons above)"
[ "${#failed_steps[@]}" = 0 ] && [ "$total_failed" = 0 ]
