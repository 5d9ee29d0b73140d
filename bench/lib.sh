# shellcheck shell=bash
# What bench/clone, bench/create-template and bench/start share (sourced, not
# run): building, a fresh loop-mounted filesystem, the daemon on a private
# bus, timed runs with their CPU accounting, medians, and the verdict.
#
# A benchmark records what went wrong with `problem` and `check_target`, and
# ends with `verdict`, whose exit status is:
#   0  every run succeeded, every tree matched, every target was met
#      (with --quick, targets are reported but not enforced)
#   1  something is broken: a failed run, a tree that differs from its
#      reference, a start that did not reach running, or nothing to measure
#   3  everything worked, but a target was missed
# (2 stays bad usage; a script that cannot measure at all dies with 1.)

problems=()
missed_targets=()

# problem TEXT: something is broken; the benchmark fails whatever the numbers.
problem() {
    problems+=("$*")
    echo "  FAILED: $*"
}

# check_target TEXT VALUE LIMIT FORMAT [UNIT]: prints "TEXT = VALUE (target <=
# LIMIT)" with VALUE and LIMIT in the printf FORMAT; a VALUE above LIMIT is a
# missed target. The comparison uses the unrounded VALUE.
check_target() {
    local text=$1 value=$2 limit=$3 format=$4 unit=${5:-} line
    line=$(awk -v t="$text" -v v="$value" -v l="$limit" -v f="$format" -v u="$unit" \
        'BEGIN {printf "%s = " f "%s (target <= " f "%s)", t, v, u, l, u}')
    if awk -v v="$value" -v l="$limit" 'BEGIN {exit !(v <= l)}'; then
        echo "$line"
    else
        echo "$line  <- missed"
        missed_targets+=("$line")
    fi
}

# check_ratio TEXT A B LIMIT: the target A/B <= LIMIT; A or B empty (no
# successful run to take a median of) is a problem, not a ratio.
check_ratio() {
    local text=$1 a=$2 b=$3 limit=$4
    if [[ -z $a || -z $b ]]; then
        problem "$text: no ratio (a contender has no successful run)"
        return 0
    fi
    check_target "$text" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')" "$limit" %.2f
}

# verdict QUICK: the last lines of a benchmark and its exit status (above).
verdict() {
    local quick=$1 line
    echo
    if ((${#problems[@]})); then
        echo "bench: FAILED: ${#problems[@]} problem(s):"
        for line in "${problems[@]}"; do echo "  $line"; done
        return 1
    fi
    if ((${#missed_targets[@]})); then
        if ((quick)); then
            echo "bench: OK (--quick: one small round is too noisy to hold to the targets; missed here:)"
            for line in "${missed_targets[@]}"; do echo "  $line"; done
            return 0
        fi
        echo "bench: FAILED: ${#missed_targets[@]} target(s) missed:"
        for line in "${missed_targets[@]}"; do echo "  $line"; done
        return 3
    fi
    if ((quick)); then
        echo "bench: OK: every run succeeded and every check passed (targets not enforced with --quick)"
    else
        echo "bench: OK: every run succeeded, every check passed, every target met"
    fi
    return 0
}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# build_binaries BUILD_DIR REPO BUILD_FIRST: builds when BUILD_FIRST is 1, then
# sets daemon_bin and client_bin.
build_binaries() {
    local build=$1 repo=$2 build_first=$3
    if ((build_first)); then
        if [[ ! -f $build/build.ninja ]]; then
            note "setting up $build"
            meson setup "$build" "$repo" --prefix=/usr --sysconfdir=/etc --localstatedir=/var >/dev/null
        fi
        note "building in $build"
        meson compile -C "$build" >/dev/null || die "the build failed (meson compile -C $build)"
    fi
    daemon_bin=$build/daemon/bred-machined
    client_bin=$build/client/bredmachine
    [[ -x $daemon_bin && -x $client_bin ]] || die "no $daemon_bin or $client_bin: build first"
}

# commit_line REPO: the commit measured, and whether the code had local changes.
commit_line() {
    echo "$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
        [[ -n $(git -C "$1" status --porcelain -- daemon client common 2>/dev/null) ]] && echo ' (+ local changes)')"
}

# --- a fresh filesystem --------------------------------------------------------
image=
mnt=
loopdev=
# make_filesystem FS SIZE_GIB DIR [INODES]: a fresh ext4, btrfs or xfs image in
# DIR on a loop device, mounted; sets image, loopdev and mnt.
make_filesystem() {
    local fs=$1 size_gib=$2 dir=$3 inodes=${4:-}
    image=$dir/$fs.img
    mnt=$dir/mnt-$fs
    mkdir "$mnt"
    truncate -s "${size_gib}G" "$image"
    case $fs in
    ext4)
        # Inode tables and journal initialised now, not by ext4lazyinit during a run.
        mkfs.ext4 -q -F ${inodes:+-N "$inodes"} -E lazy_itable_init=0,lazy_journal_init=0 "$image" ;;
    btrfs) mkfs.btrfs -q -f "$image" >/dev/null ;;
    xfs) mkfs.xfs -q -f -m reflink=1 "$image" ;;
    *) die "make_filesystem: unknown filesystem $fs" ;;
    esac
    # Direct I/O on the backing file, so pages are not cached twice (like a disk).
    loopdev=$(losetup --find --show --direct-io=on "$image" 2>/dev/null) ||
        loopdev=$(losetup --find --show "$image")
    mount "$loopdev" "$mnt"
}
# drop_filesystem: unmounts the filesystem, detaches its loop device, removes its image.
drop_filesystem() {
    if [[ -n $mnt ]] && mountpoint -q "$mnt"; then
        umount "$mnt" 2>/dev/null || { sleep 1; umount "$mnt" 2>/dev/null; } || umount -l "$mnt"
    fi
    [[ -n $loopdev ]] && losetup -d "$loopdev" 2>/dev/null
    [[ -n $image ]] && rm -f "$image"
    [[ -n $mnt ]] && rmdir "$mnt" 2>/dev/null
    mnt="" loopdev="" image=""
    return 0
}

# --- the daemon on a private bus ------------------------------------------------
bus_pid=
daemon_pid=
# start_daemon WORK MACHINES SETTINGS [SETTING...]: a private bus in WORK
# (once) and the daemon on it, with machines, settings and units in the given
# places and any further [daemon] SETTING lines; returns once it answers.
# DBUS_SYSTEM_BUS_ADDRESS is exported for the client.
start_daemon() {
    local work=$1 machines=$2 settings=$3 i
    shift 3
    [[ -d $work ]] || die "start_daemon: no work directory '$work'"
    {
        printf '[daemon]\nmachines_directory = "%s"\nsettings_directory = "%s"\nunit_directory = "%s"\n' \
            "$machines" "$settings" "$work/units"
        (($#)) && printf '%s\n' "$@"
    } >"$work/bred-machined.toml"
    mkdir -p "$work/units/machines.target.wants"
    if [[ -z $bus_pid ]]; then
        dbus-daemon --session --address="unix:path=$work/bus" --fork --print-address=3 --print-pid=4 \
            3>"$work/bus.address" 4>"$work/bus.pid"
        bus_pid=$(head -1 "$work/bus.pid")
        export DBUS_SYSTEM_BUS_ADDRESS
        DBUS_SYSTEM_BUS_ADDRESS=$(head -1 "$work/bus.address")
    fi
    "$daemon_bin" --bus="$DBUS_SYSTEM_BUS_ADDRESS" --config="$work/bred-machined.toml" >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for ((i = 0; ; i++)); do
        "$client_bin" list >/dev/null 2>&1 && break
        kill -0 "$daemon_pid" 2>/dev/null || { tail -20 "$work/daemon.log" >&2; die "the daemon exited"; }
        ((i < 100)) || { tail -20 "$work/daemon.log" >&2; die "the daemon did not come up on the bus"; }
        sleep 0.2
    done
}
stop_daemon() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        daemon_pid=
    fi
    return 0
}
stop_bus() {
    [[ -n $bus_pid ]] && kill "$bus_pid" 2>/dev/null
    bus_pid=
    return 0
}

# --- timed runs ---------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
# CPU ticks (user+system) of waited-for children of this shell, and of a
# process with the children it waited for (the daemon's bred-machined-unpack
# and gpgv), 0 for none.
children_ticks() {
    local stat
    read -r stat </proc/$$/stat
    # shellcheck disable=SC2086 # split into the fields after "(comm) "
    set -- ${stat##*) }
    echo $((${14} + ${15}))
}
process_ticks() {
    local stat
    if [[ -z $1 ]] || ! read -r stat 2>/dev/null </proc/"$1"/stat; then
        echo 0
        return
    fi
    # shellcheck disable=SC2086 # split into the fields after "(comm) "
    set -- ${stat##*) }
    echo $((${12} + ${13} + ${14} + ${15}))
}
# Busy CPU ticks of the whole machine: with the above, what everything else used
# during a run (kernel writeback, loop and filesystem worker threads, other people's work).
system_ticks() {
    local cpu user nice system _idle _iowait irq softirq steal rest
    read -r cpu user nice system _idle _iowait irq softirq steal rest </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# Set by the benchmark, after sourcing this: where runs are recorded and
# logged, how many rounds, and a server whose CPU is shown apart (optional).
results=
runs_log=
rounds=
server_pid=
declare -A failed_runs=()
# timed KEY LABEL ROUND COMMAND...: one timed run of COMMAND, whose CPU time is
# its own and the daemon's. A success is appended to $results as
# "KEY<tab>seconds<tab>cpu<tab>rest of system"; a failure is counted for KEY,
# fails the benchmark and returns 1.
timed() {
    local key=$1 label=$2 round=$3
    shift 3
    local c0 d0 s0 y0 t0 t1 c1 d1 s1 y1 rc=0
    c0=$(children_ticks) d0=$(process_ticks "$daemon_pid") s0=$(process_ticks "$server_pid") y0=$(system_ticks)
    t0=$EPOCHREALTIME
    "$@" >>"$runs_log" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    y1=$(system_ticks) c1=$(children_ticks) d1=$(process_ticks "$daemon_pid") s1=$(process_ticks "$server_pid")
    local seconds cpu others server=
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    cpu=$(awk -v t=$((c1 - c0 + d1 - d0)) -v hz="$clk_tck" 'BEGIN {printf "%.2f", t / hz}')
    others=$(awk -v t=$((y1 - y0 - (c1 - c0) - (d1 - d0) - (s1 - s0))) -v hz="$clk_tck" \
        'BEGIN {printf "%.2f", (t < 0 ? 0 : t) / hz}')
    if [[ -n $server_pid ]]; then
        server=$(awk -v t=$((s1 - s0)) -v hz="$clk_tck" 'BEGIN {printf "  server %5.2f s", t / hz}')
    fi
    if ((rc == 0)); then
        printf '%s\t%s\t%s\t%s\n' "$key" "$seconds" "$cpu" "$others" >>"$results"
        printf '  round %d/%d  %-30s %7.3f s  cpu %5s s%s  rest of system %5s s\n' "$round" "$rounds" \
            "$label" "$seconds" "$cpu" "$server" "$others"
        return 0
    fi
    failed_runs[$key]=$((${failed_runs[$key]:-0} + 1))
    problem "round $round/$rounds: $label failed (exit $rc)"
    echo "    the last lines of its output:"
    tail -5 "$runs_log" | sed 's/^/    /'
    return 1
}

# drop_caches_before_run: sync, and drop the page cache unless drop_caches is 0.
drop_caches=1
drop_caches_before_run() {
    sync
    ((drop_caches)) && echo 3 >/proc/sys/vm/drop_caches
    return 0
}
# rewarm FILE: after a drop, FILE back in the page cache (a server's copy is hot).
rewarm() {
    ((drop_caches)) && cat "$1" >/dev/null
    return 0
}

median_of() { awk '{v[NR] = $1} END {printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# stats KEY: "runs median min max cpu-median rest-median" of KEY's successful
# runs, or nothing without one.
stats() {
    local times cpus rest
    times=$(awk -F'\t' -v k="$1" '$1 == k {print $2}' "$results" | sort -n)
    [[ -n $times ]] || return 0
    cpus=$(awk -F'\t' -v k="$1" '$1 == k {print $3}' "$results" | sort -n)
    rest=$(awk -F'\t' -v k="$1" '$1 == k {print $4}' "$results" | sort -n)
    echo "$(wc -l <<<"$times") $(median_of <<<"$times") $(head -1 <<<"$times") $(tail -1 <<<"$times")" \
        "$(median_of <<<"$cpus") $(median_of <<<"$rest")"
}
declare -A median=()
# report_row FORMAT KEY ARG...: one row of the results table for KEY (its
# first columns are FORMAT filled with ARG...), and its median into median[KEY].
report_row() {
    local format=$1 key=$2 runs=0 med min max cpu rest failed
    shift 2
    read -r runs med min max cpu rest <<<"$(stats "$key")" || true
    failed=${failed_runs[$key]:-0}
    if ((runs == 0)); then
        # shellcheck disable=SC2059 # the caller's columns
        printf "$format %5d %6d %9s %9s %9s %9s %9s\n" "$@" 0 "$failed" - - - - -
        return 0
    fi
    # shellcheck disable=SC2034 # the benchmark's ratios read it
    median[$key]=$med
    # shellcheck disable=SC2059 # the caller's columns
    printf "$format %5d %6d %9.3f %9.3f %9.3f %9.2f %9.2f\n" "$@" "$runs" "$failed" "$med" "$min" "$max" "$cpu" "$rest"
}
