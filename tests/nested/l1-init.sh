#!/bin/sh
# /init of the nested test host (L1): Debian's kernel under QEMU TCG with an AMD-V CPU.
# It loads kvm-amd, runs the scenario named by `xenolith.scenario=` on the kernel command
# line, prints exactly one `NESTED-RESULT: PASS` or `NESTED-RESULT: FAIL <why>` line and
# powers the machine off. Put together by tests/nested/run.sh; see tests/nested/README.md.
#
# Lines the host side reads:  NESTED-RESULT: ...   NESTED-TIME key=ms   NESTED-INFO ...
#                             PROBE ...  (kvm_probe)
#                             NESTED-TEST ...   NESTED-SUITE: ...  (the KVM test suite)

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp /run /var/log /root
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
# Loopback, as any host has it: user-mode networking's forwards listen on 127.0.0.1.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

. /etc/nested.conf    # KVER, MODULES, DOMU_MARKER, PVH_MARKER_TIMEOUT, ... (written by run.sh)

# The nested host is where the KVM platform is tested: every domain here runs on it.
export XENOLITH_ACCEL=kvm
export XENOLITH_RUN_DIR=/run/xenolith
export XENOLITH_LOG_DIR=/var/log/xenolith
export XENSTORED_PATH=$XENOLITH_RUN_DIR/xenstored.sock
XN=/xenolith/build/toolstack/xn
mkdir -p "$XENOLITH_RUN_DIR" "$XENOLITH_LOG_DIR"

# Milliseconds since the L1 kernel started (/proc/uptime: 10 ms resolution).
now_ms() {
    read -r up _ </proc/uptime
    s=${up%.*}
    f=${up#*.}
    f=${f#0}
    echo $((s * 1000 + f * 10))
}

echo
echo "NESTED-TIME l1_boot_ms=$(now_ms)"
echo "NESTED-INFO kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), svm: $(grep -qw svm /proc/cpuinfo && echo yes || echo no)"

finish() {
    # exactly one result line, then power off (QEMU exits: -no-reboot)
    sync
    echo "$1"
    sleep 1
    poweroff -f
    sleep 30
}

fail_why=""
note_fail() {
    # the first failure names the result; the rest are printed as they happen
    echo "NESTED-FAIL: $1"
    [ -n "$fail_why" ] || fail_why="$1"
}

# A guest that does not boot, answer or shut down: the hypervisor's view of it, twice two seconds apart (do
# its exits, upcalls and ring indices move?), and where xenolithd's threads wait.
dump_stuck() {
    local pid task
    echo "--- stuck domain $1: xn debug-keys qe, then q again 2 s later ---"
    $XN dmesg -c >/dev/null 2>&1
    timeout 10 $XN debug-keys qe 2>&1
    sleep 2
    timeout 10 $XN debug-keys q 2>&1
    timeout 10 $XN dmesg 2>&1 | grep -E "pressed|\(d$1\)"
    echo "--- its vCPUs, three times half a second apart (xn debug --context) ---"
    for _ in 1 2 3; do timeout 10 $XN debug "$1" --context >/tmp/stuck-ctx.txt 2>&1; cat /tmp/stuck-ctx.txt; sleep 0.5; done
    # The domU runs L1's own kernel image, entered without KASLR: L1's /proc/kallsyms less
    # L1's KASLR offset names the kernel addresses above.
    echo "--- kernel addresses above, by L1's kallsyms ---"
    text=$(awk '$3 == "_text" { print $1; exit }' /proc/kallsyms)
    grep -oE 'ffffffff8[0-9a-f]{7}' /tmp/stuck-ctx.txt | sort -u | while read -r a; do
        awk -v a="$a" -v t="$text" '
            function h(x,  i, v, c) { v = 0; x = tolower(x); for (i = 1; i <= length(x); i++) { c = index("0123456789abcdef", substr(x, i, 1)) - 1; v = v * 16 + c } return v }
            BEGIN { target = h(substr(a, 9)) - h("81000000") + h(substr(t, 9)); best = -1 }
            substr($1, 1, 8) == "ffffffff" { v = h(substr($1, 9)); if (v <= target && v > best) { best = v; name = $3 } }
            END { printf "%s %s+0x%x\n", a, name, target - best }' /proc/kallsyms
    done
    echo "--- xenstore-ls /local/domain/$1 (is xenstored answering?) ---"
    timeout 10 xenstore-ls "/local/domain/$1" 2>&1 | head -40
    pid=$(cat "$XENOLITH_RUN_DIR/xenolithd.pid" 2>/dev/null)
    [ -n "$pid" ] || return 0
    echo "--- xenolithd's threads: tid comm state wchan ---"
    for task in /proc/"$pid"/task/*; do
        echo "$(basename "$task") $(cat "$task/comm" 2>/dev/null) $(cut -d' ' -f3 "$task/stat" 2>/dev/null) $(cat "$task/wchan" 2>/dev/null)"
    done
}

dump_logs() {
    for f in "$XENOLITH_LOG_DIR"/xenolithd.log "$XENOLITH_LOG_DIR"/xl-*.log "$XENOLITH_LOG_DIR"/guest-*.log "$@"; do
        [ -f "$f" ] || continue
        echo "----- $f -----"
        cat "$f"
        echo "----- end of $f -----"
    done
}

# wait_for FILE STRING TIMEOUT_S: 0 once STRING is in FILE, 1 on timeout
wait_for() {
    end=$(($(now_ms) + $3 * 1000))
    while [ "$(now_ms)" -lt "$end" ]; do
        if [ -f "$1" ] && grep -q -- "$2" "$1"; then return 0; fi
        sleep 0.05
    done
    [ -f "$1" ] && grep -q -- "$2" "$1"
}

# ---- kvm-amd -----------------------------------------------------------------------------
t0=$(now_ms)
for m in $MODULES; do
    if ! out=$(insmod "/lib/modules/nested/$m.ko" 2>&1); then
        echo "insmod $m: $out"
        dmesg | tail -20
        finish "NESTED-RESULT: FAIL insmod $m failed: $out"
    fi
done
if [ ! -c /dev/kvm ]; then
    dmesg | grep -i -E 'kvm|svm' | tail -20
    finish "NESTED-RESULT: FAIL no /dev/kvm after loading $MODULES"
fi
echo "NESTED-TIME modules_ms=$(($(now_ms) - t0))"

# Two idle VMs for the whole run, so that the scenarios' VMs never switch KVM's static keys
# (kernel code patching that QEMU's TCG can leave stale on another CPU: L1 livelocks; see
# tests/nested/kvm_hold.c). Only with more than one CPU: with one there is no other CPU.
if [ "$(grep -c ^processor /proc/cpuinfo)" -gt 1 ]; then
    kvm_hold >/tmp/kvm_hold.out 2>&1 &
    hold_pid=$!
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        grep -q ready /tmp/kvm_hold.out 2>/dev/null && break
        kill -0 "$hold_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q ready /tmp/kvm_hold.out ||
        finish "NESTED-RESULT: FAIL kvm_hold did not start: $(cat /tmp/kvm_hold.out)"
    echo "NESTED-INFO kvm_hold (pid $hold_pid) holds KVM's static keys"
fi
echo "NESTED-INFO $(dmesg | grep -i -m3 -E 'kvm|svm' | tr '\n' ' ')"

# ---- scenarios ---------------------------------------------------------------------------

scenario_probe() {
    t0=$(now_ms)
    /bin/kvm_probe >/tmp/probe.out 2>&1
    rc=$?
    cat /tmp/probe.out
    echo "NESTED-TIME probe_ms=$(($(now_ms) - t0))"
    [ "$rc" = 0 ] || note_fail "kvm_probe: $(grep -c ' FAIL ' /tmp/probe.out) check(s) failed: $(grep ' FAIL ' /tmp/probe.out | cut -d' ' -f2 | tr '\n' ' ')"
    [ "$rc" = 0 ]
}

# pv_case CFG RC TEXT: `xn run CFG` exits RC and prints TEXT (stdout or stderr)
pv_case() {
    t0=$(now_ms)
    $XN run "$1" >/tmp/pv-case.out 2>&1
    rc=$?
    echo "--- xn run $1 (exit $rc, $(($(now_ms) - t0)) ms) ---"
    cat /tmp/pv-case.out
    if [ "$rc" != "$2" ]; then
        note_fail "pv: xn run $1 exited $rc, expected $2: $(tail -1 /tmp/pv-case.out)"
        return 1
    fi
    if ! grep -q -- "$3" /tmp/pv-case.out; then
        note_fail "pv: xn run $1 did not print '$3'"
        return 1
    fi
}

scenario_pv() {
    ok=0
    cd /xenolith || return 1
    t0=$(now_ms)
    # 1. daemon-less, as `make demo` runs it
    $XN run examples/hello.cfg >/tmp/pv-run.out 2>/tmp/pv-run.err
    rc=$?
    echo "--- xn run examples/hello.cfg (exit $rc) ---"
    cat /tmp/pv-run.out /tmp/pv-run.err
    echo "NESTED-TIME pv_run_ms=$(($(now_ms) - t0))"
    if [ "$rc" != 0 ]; then
        note_fail "pv: xn run examples/hello.cfg exited $rc: $(tail -1 /tmp/pv-run.err)"
        ok=1
    elif ! grep -qx 'Hello from Pumice!' /tmp/pv-run.out || ! grep -qx 'hello: exit 0' /tmp/pv-run.out; then
        note_fail "pv: xn run examples/hello.cfg did not print 'Hello from Pumice!' and 'hello: exit 0'"
        ok=1
    fi

    # more of the PV apps under real SVM: two vCPUs, a CPU-bound run, a crash on purpose
    pv_case examples/smp.cfg 0 'smp: all 2 vcpus done' || ok=1
    pv_case examples/spin.cfg 0 'spin: done iterations=' || ok=1
    if pv_case examples/crash.cfg 124 'crashed on vCPU 0'; then
        grep -q crash_null_deref /tmp/pv-case.out ||
            echo "NESTED-INFO pv: the crash report does not name RIP's symbol (crash_null_deref): on SVM a triple fault resets the vCPU before user space reads it"
    else
        ok=1
    fi

    # 2. through xenolithd (started on demand by xn)
    t0=$(now_ms)
    if ! $XN create examples/hello.cfg >/tmp/pv-create.out 2>&1; then
        cat /tmp/pv-create.out
        note_fail "pv: xn create examples/hello.cfg failed: $(tail -1 /tmp/pv-create.out)"
        dump_logs
        return 1
    fi
    cat /tmp/pv-create.out
    if ! wait_for "$XENOLITH_LOG_DIR/xl-hello.log" "has shut down" 60; then
        note_fail "pv: the daemon's hello domain did not shut down within 60 s"
        $XN list
        dump_logs
        return 1
    fi
    echo "NESTED-TIME pv_create_ms=$(($(now_ms) - t0))"
    echo "--- $XENOLITH_LOG_DIR/guest-hello.log ---"
    cat "$XENOLITH_LOG_DIR/guest-hello.log"
    echo "--- $XENOLITH_LOG_DIR/xl-hello.log ---"
    cat "$XENOLITH_LOG_DIR/xl-hello.log"
    if ! grep -q 'Hello from Pumice!' "$XENOLITH_LOG_DIR/guest-hello.log" ||
        ! grep -q 'hello: exit 0' "$XENOLITH_LOG_DIR/guest-hello.log"; then
        note_fail "pv: guest-hello.log lacks 'Hello from Pumice!' / 'hello: exit 0'"
        ok=1
    fi
    if ! grep -q 'has shut down, reason code 0 ' "$XENOLITH_LOG_DIR/xl-hello.log"; then
        note_fail "pv: xl-hello.log does not say the domain powered off (reason code 0)"
        ok=1
    fi
    [ "$ok" = 0 ] || dump_logs
    return $ok
}

PVH_NAME=pvh-linux

# `xn create` of a PVH config whose kernel or initramfs cannot work: one clear sentence,
# exit status 1, and no domain left behind. $1: what, $2: text the error must contain,
# then the config's lines.
expect_pvh_refused() {
    what=$1 want=$2
    shift 2
    printf '%s\n' 'name = "pvh-bad"' 'type = "pvh"' "$@" >/tmp/pvh-bad.cfg
    if $XN create /tmp/pvh-bad.cfg >/tmp/pvh-bad.out 2>&1; then
        note_fail "pvh: $what: xn create succeeded"
        $XN destroy pvh-bad >/dev/null 2>&1
        return 1
    fi
    if ! grep -q -- "$want" /tmp/pvh-bad.out; then
        note_fail "pvh: $what: the error does not say '$want': $(tail -1 /tmp/pvh-bad.out)"
        return 1
    fi
    if $XN list 2>/dev/null | grep -q '^pvh-bad '; then
        note_fail "pvh: $what: a refused create left a domain behind"
        return 1
    fi
    echo "NESTED-INFO pvh refused ($what): $(tail -1 /tmp/pvh-bad.out)"
}

scenario_pvh_bad_images() {
    ok=0
    expect_pvh_refused "a PV kernel" "no PVH entry note" \
        "kernel = \"/xenolith/build/guest/apps/hello\"" "memory = 64" || ok=1
    head -c 4000000 "/boot/vmlinuz-$KVER" >/tmp/vmlinuz-truncated
    expect_pvh_refused "a truncated bzImage" "truncated payload" \
        "kernel = \"/tmp/vmlinuz-truncated\"" "memory = 64" || ok=1
    rm -f /tmp/vmlinuz-truncated
    dd if=/dev/zero of=/tmp/initramfs-too-big bs=1M count=80 2>/dev/null
    expect_pvh_refused "an initramfs larger than memory" "does not fit" \
        "kernel = \"/boot/vmlinuz-$KVER\"" "ramdisk = \"/tmp/initramfs-too-big\"" "memory = 128" || ok=1
    rm -f /tmp/initramfs-too-big
    return $ok
}

scenario_pvh() {
    bad=0
    scenario_pvh_bad_images || bad=1
    cfg=/tmp/$PVH_NAME.cfg
    cat >"$cfg" <<EOF
name = "$PVH_NAME"
type = "pvh"
memory = 256
vcpus = 1
kernel = "/boot/vmlinuz-$KVER"
ramdisk = "/domu.cpio.gz"
cmdline = "console=hvc0 quiet loglevel=5 $PVH_EXTRA_CMDLINE"
on_crash = "preserve"
EOF
    echo "--- $cfg ---"
    cat "$cfg"
    glog=$XENOLITH_LOG_DIR/guest-$PVH_NAME.log
    xlog=$XENOLITH_LOG_DIR/xl-$PVH_NAME.log
    t0=$(now_ms)
    if ! $XN create "$cfg" >/tmp/pvh-create.out 2>&1; then
        cat /tmp/pvh-create.out
        note_fail "pvh: xn create failed: $(tail -1 /tmp/pvh-create.out)"
        dump_logs
        return 1
    fi
    cat /tmp/pvh-create.out
    echo "NESTED-TIME xenolith_create_ms=$(($(now_ms) - t0))"
    if ! wait_for "$glog" "$DOMU_MARKER" "$PVH_MARKER_TIMEOUT"; then
        note_fail "pvh: no $DOMU_MARKER in $glog within $PVH_MARKER_TIMEOUT s"
        $XN list
        dump_stuck "$($XN domid $PVH_NAME 2>/dev/null)"
        dump_logs
        $XN destroy $PVH_NAME >/dev/null 2>&1
        return 1
    fi
    echo "NESTED-TIME xenolith_marker_ms=$(($(now_ms) - t0))"
    grep -- "$DOMU_MARKER" "$glog"
    ok=0
    domid=$($XN domid $PVH_NAME 2>&1)
    echo "NESTED-INFO pvh domid: $domid"
    name=$(xenstore-read "/local/domain/$domid/name" 2>&1)
    if [ "$name" != "$PVH_NAME" ]; then
        note_fail "pvh: xenstore-read /local/domain/$domid/name gave '$name'"
        ok=1
    fi
    echo "--- xenstore-ls /local/domain/$domid ---"
    if ! xenstore-ls "/local/domain/$domid" >/tmp/pvh-xs.out 2>&1; then
        cat /tmp/pvh-xs.out
        note_fail "pvh: xenstore-ls /local/domain/$domid failed: $(tail -1 /tmp/pvh-xs.out)"
        ok=1
    else
        cat /tmp/pvh-xs.out
    fi
    $XN list
    t1=$(now_ms)
    timeout "$PVH_SHUTDOWN_TIMEOUT" $XN shutdown -w $PVH_NAME >/tmp/pvh-shutdown.out 2>&1
    rc=$?
    cat /tmp/pvh-shutdown.out
    echo "NESTED-TIME xenolith_shutdown_ms=$(($(now_ms) - t1))"
    if [ "$rc" != 0 ]; then
        case "$rc" in
        124 | 143) note_fail "pvh: xn shutdown -w $PVH_NAME: the domain had not shut down after $PVH_SHUTDOWN_TIMEOUT s (no XENOLITH-DOMU-POWEROFF on its console: $(grep -q XENOLITH-DOMU-POWEROFF "$glog" && echo present || echo absent))" ;;
        *) note_fail "pvh: xn shutdown -w $PVH_NAME exited $rc" ;;
        esac
        ok=1
        dump_stuck "$domid"
        $XN list
    else
        gone=1
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            if ! $XN list 2>/dev/null | grep -q "^$PVH_NAME "; then gone=0; break; fi
            sleep 1
        done
        if [ "$gone" != 0 ]; then
            $XN list
            note_fail "pvh: $PVH_NAME is still listed 10 s after xn shutdown -w returned"
            ok=1
        fi
    fi
    if ! grep -q 'has shut down, reason code 0 ' "$xlog" 2>/dev/null; then
        note_fail "pvh: $xlog does not say the domain powered off (reason code 0)"
        ok=1
    fi
    if [ "$ok" = 0 ]; then
        echo "--- $xlog ---"
        cat "$xlog"
        echo "--- $glog ---"
        cat "$glog"
    else
        dump_logs
        $XN destroy $PVH_NAME >/dev/null 2>&1
    fi
    [ "$bad" = 0 ] || ok=1
    return $ok
}

# ---- pvh-io: Linux's own xen-blkfront and xen-netfront -----------------------------------
# Debian's kernel as a PVH domain with an ext4 disk (made here by mke2fs) as xvda and a vif on
# a bridge in L1, where L1 serves DHCP and a page. The domU's io-test (tests/nested/domu)
# mounts the disk, writes, syncs and reads back, takes a lease, fetches the page and pings;
# then a second disk is hot-plugged and detached while it runs. After the domain powered
# off, e2fsck -fn finds the file system clean and the files are there.
PVH_IO_NAME=pvh-io
IO_BRIDGE=xenbr0
IO_HOST_ADDR=10.0.3.1
IO_MAC=00:16:3e:58:4e:01
IO_XVDA=/tmp/pvh-io-xvda.img
IO_XVDB=/tmp/pvh-io-xvdb.img

# L1's side of the guest's network: a bridge with an address, busybox's DHCP server and web
# server on it
io_network_up() {
    # no forwarding delay for a port that joins (busybox's brctl has no setfd)
    brctl addbr $IO_BRIDGE && echo 0 >/sys/class/net/$IO_BRIDGE/bridge/forward_delay &&
        ip addr add $IO_HOST_ADDR/24 dev $IO_BRIDGE && ip link set $IO_BRIDGE up || return 1
    mkdir -p /srv/www
    io_page="served-by-L1-$(cat /proc/sys/kernel/random/uuid)"
    echo "$io_page" >/srv/www/index.html
    httpd -f -p $IO_HOST_ADDR:80 -h /srv/www >/tmp/httpd.out 2>&1 &
    io_httpd_pid=$!
    cat >/tmp/udhcpd.conf <<EOF
interface $IO_BRIDGE
start 10.0.3.100
end 10.0.3.110
max_leases 11
lease_file /tmp/udhcpd.leases
option subnet 255.255.255.0
option router $IO_HOST_ADDR
EOF
    : >/tmp/udhcpd.leases
    udhcpd -f /tmp/udhcpd.conf >/tmp/udhcpd.out 2>&1 &
    io_udhcpd_pid=$!
}

io_network_down() {
    kill $io_httpd_pid $io_udhcpd_pid 2>/dev/null
    ip link set $IO_BRIDGE down 2>/dev/null
    brctl delbr $IO_BRIDGE 2>/dev/null
}

# io_wait WHAT SECONDS: 0 once the guest's console has `XENOLITH-DOMU-IO WHAT`; 1 on a
# timeout or on the guest's own FAIL line (either is named through note_fail)
io_wait() {
    end=$(($(now_ms) + $2 * 1000))
    while :; do
        if grep -q -- "XENOLITH-DOMU-IO $1" "$io_glog" 2>/dev/null; then
            grep -m1 -- "XENOLITH-DOMU-IO $1" "$io_glog"
            return 0
        fi
        if grep -q "XENOLITH-DOMU-IO FAIL" "$io_glog" 2>/dev/null; then
            note_fail "pvh-io: the guest says: $(grep -m1 'XENOLITH-DOMU-IO FAIL' "$io_glog")"
            return 1
        fi
        if [ "$(now_ms)" -ge "$end" ]; then
            note_fail "pvh-io: no 'XENOLITH-DOMU-IO $1' on the guest's console within $2 s"
            dump_stuck "$($XN domid $PVH_IO_NAME 2>/dev/null)"
            return 1
        fi
        sleep 0.1
    done
}

# io_trace_start: `xn trace --syscalls` on the guest while it finds the hot-plugged disk
# (docs/vmi.md, "System-call trace"); 1 when the trace does not start
IO_TRACE=/tmp/io-syscalls.out
io_trace_start() {
    $XN trace $PVH_IO_NAME --syscalls >$IO_TRACE 2>&1 &
    io_trace_pid=$!
    end=$(($(now_ms) + 30000))
    until grep -q "^# tracing" $IO_TRACE; do
        if ! kill -0 $io_trace_pid 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then
            cat $IO_TRACE
            note_fail "pvh-io: xn trace --syscalls did not start"
            return 1
        fi
        sleep 0.1
    done
}

# io_trace_check: stops the trace; it must show the guest's `/bin/dd` and `/bin/cat` (io-test)
# executed, with their arguments, and the files they opened, with their paths
io_trace_check() {
    kill -INT $io_trace_pid
    wait $io_trace_pid
    rc=$?
    lines=$(grep -c " cr3=0x[0-9a-f]* rip=0x[0-9a-f]* " $IO_TRACE)
    echo "--- xn trace --syscalls: $lines calls; the execve and openat ones ---"
    grep -E " (execve|openat)\(" $IO_TRACE | head -40
    if [ "$rc" != 0 ]; then
        tail -5 $IO_TRACE
        note_fail "pvh-io: xn trace --syscalls exited $rc"
        return 1
    fi
    for want in 'execve("/bin/dd", ["/bin/dd", "if=/dev/xvdb", "bs=512", "count=1"]' \
        'openat(AT_FDCWD, "/dev/xvdb", ' \
        'execve("/bin/cat", ["/bin/cat", "/sys/block/xvdb/size"]' \
        'openat(AT_FDCWD, "/sys/block/xvdb/size", '; do
        if ! grep -qF "$want" $IO_TRACE; then
            note_fail "pvh-io: the system-call trace has no $want"
            return 1
        fi
    done
    echo "NESTED-INFO pvh-io: the system-call trace shows /bin/dd and /bin/cat executed and their files opened ($lines calls)"
}

# io_devices: the domain's disks and vifs as `xn` lists them
io_devices() {
    $XN block-list $PVH_IO_NAME
    $XN network-list $PVH_IO_NAME
}

# io_in_guest: the guest's part, from boot to the detached second disk
io_in_guest() {
    io_wait "disk ok" "$PVH_MARKER_TIMEOUT" || return 1
    echo "NESTED-TIME pvh_io_disk_ms=$(($(now_ms) - io_t0))"
    io_wait "net addr" 60 || return 1
    io_wait "net fetched" 60 || return 1
    if ! tr -d '\r' <"$io_glog" | grep -q "XENOLITH-DOMU-IO net fetched $io_page\$"; then
        note_fail "pvh-io: the guest fetched something other than '$io_page'"
        return 1
    fi
    io_wait "net ping ok" 60 || return 1
    echo "NESTED-TIME pvh_io_net_ms=$(($(now_ms) - io_t0))"
    io_wait "waiting for xvdb" 30 || return 1
    io_trace_start || return 1
    io_devices
    # what Linux's frontends wrote (rings, event channels, features), for the log
    domid=$($XN domid $PVH_IO_NAME 2>&1)
    xenstore-ls "/local/domain/$domid/device" 2>&1
    # hot-plug, as xl takes it: the spec's parts after the domain
    if ! $XN block-attach $PVH_IO_NAME format=raw vdev=xvdb access=ro "target=$IO_XVDB" >/tmp/io-attach.out 2>&1; then
        note_fail "pvh-io: xn block-attach failed: $(tail -1 /tmp/io-attach.out)"
        return 1
    fi
    io_wait "xvdb appeared" 60 || return 1
    if ! tr -d '\r' <"$io_glog" | grep -q "XENOLITH-DOMU-IO xvdb appeared sectors=16384 magic=$io_magic\$"; then
        note_fail "pvh-io: xvdb is not the 8 MiB disk that starts with '$io_magic'"
        return 1
    fi
    io_devices | tee /tmp/io-devices.out
    if [ "$(grep -c ' 4 ' /tmp/io-devices.out)" -lt 3 ]; then
        note_fail "pvh-io: xn block-list/network-list do not show two disks and a vif connected (state 4)"
        return 1
    fi
    if ! $XN block-detach $PVH_IO_NAME xvdb >/tmp/io-detach.out 2>&1; then
        note_fail "pvh-io: xn block-detach failed: $(tail -1 /tmp/io-detach.out)"
        return 1
    fi
    io_wait "xvdb gone" 60 || return 1
    io_trace_check || return 1
    io_wait "done" 10 || return 1
    if [ "$($XN block-list $PVH_IO_NAME | wc -l)" != 2 ]; then
        $XN block-list $PVH_IO_NAME
        note_fail "pvh-io: after block-detach, block-list does not show xvda alone"
        return 1
    fi
}

# io_check_disk MD5: the image after power-off is clean and holds what the guest wrote
io_check_disk() {
    if ! /sbin/e2fsck -fn "$IO_XVDA" >/tmp/io-fsck.out 2>&1; then
        cat /tmp/io-fsck.out
        note_fail "pvh-io: e2fsck -fn $IO_XVDA: $(tail -1 /tmp/io-fsck.out)"
        return 1
    fi
    tail -1 /tmp/io-fsck.out
    hello=$(/sbin/debugfs -R "cat /hello.txt" "$IO_XVDA" 2>/dev/null)
    if [ "$hello" != "written by Linux xen-blkfront on Xenolith" ]; then
        note_fail "pvh-io: /hello.txt in the image reads '$hello'"
        return 1
    fi
    rm -f /tmp/io-data.bin
    /sbin/debugfs -R "dump /data.bin /tmp/io-data.bin" "$IO_XVDA" >/dev/null 2>&1
    sum=$(md5sum /tmp/io-data.bin 2>/dev/null | cut -d' ' -f1)
    rm -f /tmp/io-data.bin
    if [ "$sum" != "$1" ]; then
        note_fail "pvh-io: /data.bin in the image has md5 '$sum'; the guest wrote $1"
        return 1
    fi
    echo "NESTED-INFO pvh-io: e2fsck clean; hello.txt and data.bin (md5 $sum) are in the image"
}

scenario_pvh_io() {
    io_glog=$XENOLITH_LOG_DIR/guest-$PVH_IO_NAME.log
    rm -f "$IO_XVDA" "$IO_XVDB"
    dd if=/dev/zero of="$IO_XVDA" bs=1M count=0 seek=64 2>/dev/null
    # the full path: busybox sh would run its own mke2fs applet
    if ! /sbin/mke2fs -q -t ext4 -F -L xenolith "$IO_XVDA" >/tmp/io-mkfs.out 2>&1; then
        note_fail "pvh-io: mke2fs: $(tail -1 /tmp/io-mkfs.out)"
        return 1
    fi
    io_magic="XENOLITH-HOTPLUG-$(cat /proc/sys/kernel/random/uuid)"
    echo "$io_magic" | dd of="$IO_XVDB" conv=notrunc 2>/dev/null
    dd if=/dev/zero of="$IO_XVDB" bs=1M count=0 seek=8 2>/dev/null
    if ! io_network_up; then
        note_fail "pvh-io: cannot set up bridge $IO_BRIDGE"
        io_network_down
        return 1
    fi
    cfg=/tmp/$PVH_IO_NAME.cfg
    cat >"$cfg" <<EOF
name = "$PVH_IO_NAME"
type = "pvh"
memory = 256
vcpus = 1
kernel = "/boot/vmlinuz-$KVER"
ramdisk = "/domu.cpio.gz"
cmdline = "console=hvc0 quiet loglevel=5 domu.io=1 $PVH_EXTRA_CMDLINE"
disk = ['format=raw, vdev=xvda, access=rw, target=$IO_XVDA']
vif = ['bridge=$IO_BRIDGE, mac=$IO_MAC']
on_crash = "preserve"
EOF
    echo "--- $cfg ---"
    cat "$cfg"
    io_t0=$(now_ms)
    if ! $XN create "$cfg" >/tmp/io-create.out 2>&1; then
        cat /tmp/io-create.out
        note_fail "pvh-io: xn create failed: $(tail -1 /tmp/io-create.out)"
        dump_logs
        io_network_down
        return 1
    fi
    ok=0
    io_in_guest || ok=1
    sum=$(sed -n 's/.*XENOLITH-DOMU-IO disk ok \([0-9a-f]*\).*/\1/p' "$io_glog" | head -1)
    timeout "$PVH_SHUTDOWN_TIMEOUT" $XN shutdown -w $PVH_IO_NAME >/tmp/io-shutdown.out 2>&1
    rc=$?
    cat /tmp/io-shutdown.out
    if [ "$rc" != 0 ]; then
        note_fail "pvh-io: xn shutdown -w $PVH_IO_NAME exited $rc"
        dump_stuck "$($XN domid $PVH_IO_NAME 2>/dev/null)"
        $XN destroy $PVH_IO_NAME >/dev/null 2>&1
        ok=1
    elif ! grep -q "XENOLITH-DOMU-UMOUNT ok" "$io_glog"; then
        note_fail "pvh-io: the guest did not unmount /mnt on its way down"
        ok=1
    fi
    echo "NESTED-TIME pvh_io_ms=$(($(now_ms) - io_t0))"
    if [ "$ok" = 0 ]; then io_check_disk "$sum" || ok=1; fi
    if [ "$ok" = 0 ]; then
        echo "--- $io_glog ---"
        cat "$io_glog"
    else
        echo "--- L1's network ---"
        cat /tmp/udhcpd.out /tmp/httpd.out 2>/dev/null
        brctl show
        ip addr
        cat /proc/net/dev
        dump_logs
    fi
    io_network_down
    rm -f "$IO_XVDA" "$IO_XVDB"
    return $ok
}

scenario_peer() {
    if [ ! -x /usr/bin/qemu-system-x86_64 ]; then
        echo "NESTED-PEER: FAIL qemu-system-x86_64 is not in this initramfs"
        return 1
    fi
    log=/tmp/peer-console.log
    : >"$log"
    t0=$(now_ms)
    qemu-system-x86_64 -accel kvm -cpu host -m 256 -smp 1 -nodefaults -display none \
        -serial "file:$log" -no-reboot \
        -kernel "/boot/vmlinuz-$KVER" -initrd /domu.cpio.gz \
        -append "console=ttyS0 quiet loglevel=5 domu.poweroff=1" </dev/null >/tmp/peer-qemu.out 2>&1 &
    qpid=$!
    if ! wait_for "$log" "$DOMU_MARKER" "$PEER_MARKER_TIMEOUT"; then
        kill "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
        echo "--- QEMU peer console ---"
        cat "$log" /tmp/peer-qemu.out
        echo "NESTED-PEER: FAIL no $DOMU_MARKER within $PEER_MARKER_TIMEOUT s"
        return 1
    fi
    echo "NESTED-TIME qemu_marker_ms=$(($(now_ms) - t0))"
    grep -- "$DOMU_MARKER" "$log"
    # the domU powers itself off (domu.poweroff=1); QEMU exits
    end=$(($(now_ms) + 60000))
    while kill -0 "$qpid" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do sleep 0.2; done
    if kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null
        echo "NESTED-INFO the QEMU peer did not power off within 60 s; killed"
    else
        echo "NESTED-TIME qemu_total_ms=$(($(now_ms) - t0))"
    fi
    wait "$qpid" 2>/dev/null
    cat /tmp/peer-qemu.out
    echo "NESTED-PEER: PASS"
    return 0
}

# ---- the KVM test suite ------------------------------------------------------------------
# Every test of the binaries in $SUITE_BINARIES (run.sh staged them at their build paths),
# one process per test, so that a hang costs one test's bound and the serial log shows
# which test it was. Tests named in /etc/nested-excluded.txt (tests/nested/excluded-tests.txt)
# are not run but counted and printed with their reason. A test that fails prints its own
# output. Everything ends in one line for run.sh:
#   NESTED-SUITE: kvm N passed, M failed, K excluded
# A test that cannot even start within the suite's budget (SUITE_BUDGET s) counts as failed:
# the suite stays bounded however many tests hang, and never passes by running fewer.

suite_passed=0 suite_failed=0 suite_excluded=0 suite_timed_out=0 suite_not_run=0

# excluded_reason NAME: prints the reason and succeeds when NAME matches a pattern of the
# excluded list. Patterns are gtest names with * and ?, matched as shell globs. A pattern
# may be limited to L1s with at most N CPUs by `[cpus<=N]` before its `#`.
excluded_reason() {
    want=$1
    while IFS= read -r line; do
        pat=${line%%#*}
        reason=${line#*#}
        limit=""
        case "$pat" in *"[cpus<="*"]"*)
            limit=${pat#*\[cpus<=}
            limit=${limit%%]*}
            pat=${pat%%\[cpus<=*}
            ;;
        esac
        set -f
        set -- $pat
        set +f
        [ $# -eq 1 ] || continue
        [ -z "$limit" ] || [ "$L1_CPUS" -le "$limit" ] || continue
        # shellcheck disable=SC2254  # the pattern is a glob on purpose
        case "$want" in
        $1)
            echo "${reason# }"
            return 0
            ;;
        esac
    done </etc/nested-excluded.txt
    return 1
}

# suite_binary BIN: lists BIN's tests and runs each on its own.
suite_binary() {
    bin=$1
    short=$(basename "$bin")
    bt0=$(now_ms)
    b_passed=0 b_failed=0 b_excluded=0
    if ! (cd /tmp && "$bin" --gtest_list_tests) >/tmp/suite-list.out 2>&1; then
        cat /tmp/suite-list.out
        note_fail "suite: $short --gtest_list_tests failed"
        suite_failed=$((suite_failed + 1))
        return 1
    fi
    # `Suite.` starts a group; each indented line is a test (a value-parameterized one
    # carries a `# GetParam() = ...` comment after its name)
    awk '/^[^ ]/ { suite = $1; next } /^  / { print suite $1 }' /tmp/suite-list.out >/tmp/suite-tests
    total=$(wc -l </tmp/suite-tests)
    echo "NESTED-INFO suite: $short: $total tests"
    while IFS= read -r name; do
        if reason=$(excluded_reason "$name"); then
            echo "NESTED-TEST EXCLUDED $short $name: $reason"
            b_excluded=$((b_excluded + 1))
            continue
        fi
        if [ $(($(now_ms) - suite_t0)) -ge $((SUITE_BUDGET * 1000)) ]; then
            echo "NESTED-TEST NOT-RUN $short $name: the suite's ${SUITE_BUDGET} s budget is spent"
            suite_not_run=$((suite_not_run + 1))
            b_failed=$((b_failed + 1))
            continue
        fi
        t0=$(now_ms)
        # the environment of a developer's ctest run: no run or log directory of the guests
        # scenarios' daemon; SIGTERM on timeout (daemons the test forked die with it:
        # PR_SET_PDEATHSIG), SIGKILL 5 s later
        (cd /tmp && exec env -u XENOLITH_RUN_DIR -u XENOLITH_LOG_DIR -u XENSTORED_PATH TMPDIR=/tmp \
            timeout -k 5 "$SUITE_TEST_TIMEOUT" "$bin" --gtest_filter="$name" --gtest_color=no) \
            </dev/null >/tmp/suite-test.out 2>&1
        rc=$?
        ms=$(($(now_ms) - t0))
        if [ "$rc" = 0 ] && grep -q '^\[       OK \] ' /tmp/suite-test.out &&
            ! grep -q '^\[  SKIPPED \] ' /tmp/suite-test.out; then
            echo "NESTED-TEST PASS $ms ms $short $name"
            b_passed=$((b_passed + 1))
            continue
        fi
        if [ "$ms" -ge $((SUITE_TEST_TIMEOUT * 1000)) ] && { [ "$rc" = 143 ] || [ "$rc" = 137 ]; }; then
            echo "NESTED-TEST TIMEOUT $ms ms $short $name (killed after ${SUITE_TEST_TIMEOUT} s)"
            suite_timed_out=$((suite_timed_out + 1))
            # a daemon that `xn` started on demand is not the test's child and outlives it:
            # it would take CPU time from the tests after this one
            for p in /proc/[0-9]*; do
                case "$(readlink "$p/exe" 2>/dev/null)" in
                */xenolithd | */xn | "$bin")
                    echo "NESTED-INFO suite: killing what $name left running: pid ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
                    kill -9 "${p#/proc/}" 2>/dev/null
                    ;;
                esac
            done
        elif [ "$rc" = 0 ]; then
            # exit 0 without an OK line: skipped, or the filter ran nothing; neither passes
            echo "NESTED-TEST FAIL $ms ms $short $name (exit 0 but the test did not pass: skipped or not run)"
        else
            echo "NESTED-TEST FAIL $ms ms $short $name (exit $rc)"
        fi
        b_failed=$((b_failed + 1))
        lines=$(wc -l </tmp/suite-test.out)
        echo "----- output of $short --gtest_filter=$name ($lines lines) -----"
        if [ "$lines" -gt "$SUITE_OUTPUT_LINES" ]; then
            head -n $((SUITE_OUTPUT_LINES / 2)) /tmp/suite-test.out
            echo "... ($((lines - SUITE_OUTPUT_LINES)) lines left out) ..."
            tail -n $((SUITE_OUTPUT_LINES / 2)) /tmp/suite-test.out
        else
            cat /tmp/suite-test.out
        fi
        echo "----- end of output of $name -----"
    done </tmp/suite-tests
    echo "NESTED-INFO suite: $short: $b_passed passed, $b_failed failed, $b_excluded excluded in $(($(now_ms) - bt0)) ms"
    echo "NESTED-TIME suite_$(echo "$short" | tr - _)_ms=$(($(now_ms) - bt0))"
    suite_passed=$((suite_passed + b_passed))
    suite_failed=$((suite_failed + b_failed))
    suite_excluded=$((suite_excluded + b_excluded))
}

scenario_suite() {
    L1_CPUS=$(grep -c ^processor /proc/cpuinfo)
    suite_t0=$(now_ms)
    echo "NESTED-INFO suite: $L1_CPUS CPU(s) in L1, ${SUITE_TEST_TIMEOUT} s per test, ${SUITE_BUDGET} s in all"
    for b in $SUITE_BINARIES; do
        suite_binary "$b"
    done
    echo "NESTED-TIME suite_ms=$(($(now_ms) - suite_t0))"
    more=""
    [ "$suite_timed_out" = 0 ] || more="$more, $suite_timed_out timed out"
    [ "$suite_not_run" = 0 ] || more="$more, $suite_not_run not run (budget spent)"
    echo "NESTED-SUITE: kvm $suite_passed passed, $suite_failed failed, $suite_excluded excluded$more"
    if [ "$suite_failed" != 0 ]; then
        note_fail "suite: $suite_failed KVM test(s) failed"
        return 1
    fi
    if [ "$suite_passed" = 0 ]; then
        note_fail "suite: no KVM test passed (did any run?)"
        return 1
    fi
}

# the daemon the pv and pvh scenarios started (xn starts it on demand) stops its guests and
# exits on SIGTERM
stop_daemon() {
    [ -f "$XENOLITH_RUN_DIR/xenolithd.pid" ] || return 0
    pid=$(cat "$XENOLITH_RUN_DIR/xenolithd.pid" 2>/dev/null)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f "$XENOLITH_RUN_DIR/xenolithd.pid"
}

scenario=$SCENARIO
for w in $(cat /proc/cmdline); do
    case "$w" in xenolith.scenario=*) scenario=${w#xenolith.scenario=} ;; esac
done
echo "NESTED-INFO scenario $scenario"

scenario_t0=$(now_ms)
case "$scenario" in
probe) scenario_probe ;;
pv) scenario_pv ;;
pvh) scenario_pvh ;;
pvh-io) scenario_pvh_io ;;
peer) scenario_peer || note_fail "peer: the QEMU peer run failed" ;;
integration) scenario_suite ;;
guests)
    # pv and pvh without the peer (`suite`, what `make test` runs, adds the KVM tests).
    # QEMU/KVM inside the TCG host has been seen to hang the whole L1 under load, and the
    # peer decides nothing anyway.
    t=$(now_ms); scenario_pv; echo "NESTED-TIME pv_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh; echo "NESTED-TIME pvh_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh_io; echo "NESTED-TIME pvh_io_scenario_ms=$(($(now_ms) - t))"
    ;;
all)
    t=$(now_ms); scenario_pv; echo "NESTED-TIME pv_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh; echo "NESTED-TIME pvh_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh_io; echo "NESTED-TIME pvh_io_scenario_ms=$(($(now_ms) - t))"
    # the peer is a comparison, not a requirement: it does not decide the result
    t=$(now_ms); scenario_peer; echo "NESTED-TIME peer_ms=$(($(now_ms) - t))"
    ;;
suite)
    # what `make test` runs: the guests, then the KVM test suite, in one boot
    t=$(now_ms); scenario_pv; echo "NESTED-TIME pv_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh; echo "NESTED-TIME pvh_ms=$(($(now_ms) - t))"
    t=$(now_ms); scenario_pvh_io; echo "NESTED-TIME pvh_io_scenario_ms=$(($(now_ms) - t))"
    # the suite's tests start their own daemons; this one would only take CPU time
    stop_daemon
    scenario_suite
    ;;
*) note_fail "unknown scenario '$scenario' (probe, pv, pvh, pvh-io, peer, guests, all, integration, suite)" ;;
esac
echo "NESTED-TIME scenario_ms=$(($(now_ms) - scenario_t0))"

stop_daemon

if [ -z "$fail_why" ]; then
    finish "NESTED-RESULT: PASS"
else
    finish "NESTED-RESULT: FAIL $fail_why"
fi
