#!/usr/bin/env bash
# `make bench-nested`: runs the nested host's `all` scenario (tests/nested/run.sh, whose own
# output goes to stderr) and prints one JSON document on stdout with the boot-to-marker times
# of the same Debian kernel and initramfs as a Xenolith PVH domain and as a QEMU/KVM guest,
# both inside L1, and their ratio. A figure that was not measured is null. The exit status
# is run.sh's: 0 only when the scenario passed.
#
#   tests/nested/bench.sh [--build DIR] [run.sh options...]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=build
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
    esac
done
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SERIAL=$BUILD/nested/serial.log

set +e
"$HERE/run.sh" --build "$BUILD" --scenario all ${args[@]+"${args[@]}"} >&2
rc=$?
set -e

# NESTED-TIME key=value lines from L1's serial log; null when absent
figure() {
    local v
    v=$(tr -d '\r' <"$SERIAL" 2>/dev/null | sed -n "s/^NESTED-TIME $1=\([0-9][0-9]*\)\$/\1/p" | tail -1)
    echo "${v:-null}"
}
xen=$(figure xenolith_marker_ms)
qemu=$(figure qemu_marker_ms)
ratio=null
if [ "$xen" != null ] && [ "$qemu" != null ] && [ "$qemu" -gt 0 ]; then
    ratio=$(awk -v a="$xen" -v b="$qemu" 'BEGIN { printf "%.3f", a / b }')
fi
# the shutdown time only counts when the shutdown worked
shutdown=null
[ "$rc" = 0 ] && shutdown=$(figure xenolith_shutdown_ms)
result=$(tr -d '\r' <"$SERIAL" 2>/dev/null | sed -n 's/^NESTED-RESULT: //p' | tail -1)
result=${result:-none}
result=${result//\\/\\\\}
result=${result//\"/\\\"}

cat <<JSON
{
  "benchmark": "nested-pvh-boot",
  "host": "QEMU TCG, EPYC with SVM+NPT and no XSAVE, Debian kernel with kvm-amd",
  "guest": "Debian vmlinuz + busybox initramfs, 256 MiB, 1 vCPU, boot to XENOLITH-DOMU-READY",
  "xenolith_marker_ms": $xen,
  "qemu_marker_ms": $qemu,
  "ratio": $ratio,
  "xenolith_create_ms": $(figure xenolith_create_ms),
  "xenolith_shutdown_ms": $shutdown,
  "l1_boot_ms": $(figure l1_boot_ms),
  "result": "$result"
}
JSON
exit "$rc"
