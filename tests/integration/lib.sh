# shellcheck shell=bash
# A small test framework for the integration tests. Each tests/integration/
# test-*.sh file sources this, defines test functions and runs them:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   test_something() { assert_eq "$(echo hi)" hi; }
#   run_test "something works" test_something
#
# A test function runs in a subshell with errexit (also inside $(...)),
# nounset and pipefail set, stdin from /dev/null and a time limit: the first
# failing command or assertion fails the test, and what the test printed is
# shown with the failure, with the failing command and its line. The usual
# bash rule holds: errexit is off inside `if`, `while`, `&&` and `||`, after
# `!`, and in every function called from there. So a body whose status is
# wanted runs through capture_status, never as `body || status=$?`; a command
# that must fail is asserted with assert_fails(_with), never `! cmd`.
# Assertions (assert_*) end the test at once; helpers (wait_for, as_user,
# bus_call, bus_call_as) return a status. as_user runs programs, not shell
# functions: `as_user bob busctl ...` or `bus_call_as bob METHOD ...`.
#
# A test that cannot run on this kind of machine calls `skip_because REASON`:
# it is counted as skipped, with the reason shown. There is no skip without a
# reason, and a missing tool or a failed setup is a failure, not a skip.
#
# Tests share the testbed: each test removes the machines it made
# (remove_machine_dirs), also before it starts.
#
# Results are counted in the file $BRED_TEST_COUNTS (one "pass|fail|skip NAME"
# line per test), which run-inside totals. A test file run on its own prints
# its own totals.
#
# Environment: BRED_TEST_TIMEOUT (seconds per test, default 600),
# BRED_TEST_VERBOSE=1 (show the output of passing tests too),
# BRED_MACHINES_DIR (default /var/lib/machines).

# shellcheck disable=SC2034  # used by the test files
BRED_BUS_NAME=org.bredos.machine1
BRED_BUS_PATH=/org/bredos/machine1
BRED_MANAGER_IFACE=org.bredos.machine1.Manager
BRED_ERROR_PREFIX=org.bredos.machine1.Error.
BRED_MACHINES_DIR=${BRED_MACHINES_DIR:-/var/lib/machines}
# A pristine, bootable Debian tree (bound read-only by run-testbed).
BRED_TESTBED_ROOTFS=${BRED_TESTBED_ROOTFS:-/usr/local/share/bred-testbed/rootfs}
BRED_USER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# --- counting ----------------------------------------------------------------

# Set by run-inside; a test file run on its own counts for itself and prints
# its own totals when it exits.
_bred_standalone=0
[[ -n ${BRED_TEST_COUNTS:-} ]] || _bred_standalone=1

_bred_count() {
    if ((_bred_standalone)) && [[ -z ${BRED_TEST_COUNTS:-} ]]; then
        BRED_TEST_COUNTS=$(mktemp /tmp/bred-test-counts.XXXXXX)
        trap _bred_standalone_summary EXIT
    fi
    printf '%s %s\n' "$1" "$2" >> "$BRED_TEST_COUNTS"
}

_bred_standalone_summary() {
    local rc=$? passed failed skipped
    # Only the test file's own shell reports, never a forked copy of it.
    ((BASHPID == $$)) || return 0
    passed=$(grep -c '^pass ' "$BRED_TEST_COUNTS" || true)
    failed=$(grep -c '^fail ' "$BRED_TEST_COUNTS" || true)
    skipped=$(grep -c '^skip ' "$BRED_TEST_COUNTS" || true)
    rm -f "$BRED_TEST_COUNTS"
    echo "$passed passed, $failed failed, $skipped skipped"
    ((rc == 0 && failed == 0)) || exit 1
}

# --- running tests -----------------------------------------------------------

# Where the failing command was, printed by the ERR trap inside a test.
_bred_on_err() {
    local status=$1 cmd=$2 src=$3 line=$4
    if [[ $cmd == return* ]]; then
        echo "# failed with status $status at ${src##*/}:$line" >&2
    else
        echo "# failed: '$cmd' exited with $status (${src##*/}:$line)" >&2
    fi
}

_bred_fail() {
    # Called by assertions: say where the assertion was, then end the test.
    local i=1
    while [[ ${FUNCNAME[i]:-} == assert_* || ${FUNCNAME[i]:-} == _bred_* \
        || ${FUNCNAME[i]:-} == capture_status || ${FUNCNAME[i]:-} == fail ]]; do
        i=$((i + 1))
    done
    echo "# assertion failed at ${BASH_SOURCE[i]##*/}:${BASH_LINENO[i-1]}: $*" >&2
    exit 1
}

# run_test NAME FUNCTION [ARG...]
run_test() {
    local name=$1 fn=$2 out rc=0 timeout=${BRED_TEST_TIMEOUT:-600} timer which
    shift 2
    out=$(mktemp /tmp/bred-test-out.XXXXXX)
    local had_e=0 had_m=0
    [[ $- == *e* ]] && had_e=1
    [[ $- == *m* ]] && had_m=1
    set +e
    # Job control gives the test its own process group, so that a test that
    # hangs can be stopped with everything it started.
    set -m
    (
        set -eEuo pipefail
        shopt -s inherit_errexit
        trap '_bred_on_err $? "$BASH_COMMAND" "${BASH_SOURCE[0]}" "$LINENO"' ERR
        "$fn" "$@"
    ) < /dev/null > "$out" 2>&1 &
    local pid=$!
    ((had_m)) || set +m
    sleep "$timeout" &
    timer=$!
    which=
    wait -n -p which "$pid" "$timer"
    rc=$?
    if [[ $which == "$timer" ]]; then
        echo "# timed out after ${timeout}s" >> "$out"
        kill -TERM -- "-$pid" 2>/dev/null
        sleep 1
        kill -KILL -- "-$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rc=124
    else
        # SIGKILL: a forked shell that has not exec'd sleep yet must not run
        # the inherited traps.
        kill -KILL "$timer" 2>/dev/null
        wait "$timer" 2>/dev/null
    fi
    local reason=
    if ((rc == _bred_skip_status)); then
        reason=$(sed -n 's/^# skip: //p' "$out" | tail -n1)
    fi
    if ((rc == 0)); then
        echo "ok - $name"
        [[ ${BRED_TEST_VERBOSE:-0} == 1 ]] && sed 's/^/#   /' "$out"
        _bred_count pass "$name"
    elif [[ -n $reason ]]; then
        echo "ok - $name # SKIP $reason"
        [[ ${BRED_TEST_VERBOSE:-0} == 1 ]] && sed 's/^/#   /' "$out"
        _bred_count skip "$name"
    else
        echo "not ok - $name"
        sed 's/^/#   /' "$out"
        echo "#   (exit status $rc)"
        _bred_count fail "$name"
    fi
    rm -f "$out"
    ((had_e)) && set -e
    return 0
}

# run_setup SETUP [TEARDOWN] / run_teardown TEARDOWN: run a test file's
# setup or teardown function in the file's own shell (the variables it sets
# stay), with errexit in force as in a test. If it fails, that is counted as
# a failure ("setup of FILE"), TEARDOWN runs after a failed SETUP, and the
# file ends: its tests cannot run without their setup.
_bred_fixture_teardown=
run_setup() {
    _bred_fixture_teardown=${2:-}
    _bred_fixture setup "$1"
}
run_teardown() {
    _bred_fixture_teardown=
    _bred_fixture teardown "$1"
}
_bred_fixture() {
    local what=$1 fn=$2 saved_opts saved_shopt
    saved_opts=$(set +o)
    saved_shopt=$(shopt -p inherit_errexit)
    set -eEuo pipefail
    shopt -s inherit_errexit
    trap '_bred_fixture_failed "$what" $? "$BASH_COMMAND" "${BASH_SOURCE[0]}" "$LINENO"' ERR
    "$fn"
    trap - ERR
    eval "$saved_opts"
    eval "$saved_shopt"
}
_bred_fixture_failed() {
    local what=$1
    shift
    trap - ERR
    set +eE
    _bred_on_err "$@"
    echo "not ok - $what of ${0##*/}"
    _bred_count fail "$what of ${0##*/}"
    [[ -z $_bred_fixture_teardown ]] || "$_bred_fixture_teardown"
    exit 1
}

# The status of a test that skipped itself (automake's and meson's).
_bred_skip_status=77

# skip_because REASON: inside a test, end it as skipped because this kind of
# machine cannot run it (say what is missing and where, e.g. "the host kernel
# has no xfs"). Only run_test counts it as a skip, and only with a reason.
skip_because() {
    [[ -n ${1:-} ]] || _bred_fail "skip_because needs a reason"
    echo "# skip: $*"
    exit "$_bred_skip_status"
}

# capture_status VAR CMD [ARG...]: run CMD (a program or a shell function)
# with errexit in force, and store its exit status in VAR; never fails
# itself. The way to run a body and then clean up whatever happened:
#     capture_status status body; cleanup; return "$status"
# It refuses to run where errexit is already off (inside `if`, `||`, `&&` or
# after `!`), because CMD would then run on past its failures.
capture_status() {
    local -n _bred_status_var=$1
    shift
    # Where errexit is in force, the probe stops at `false` (and its EXIT
    # trap makes that a success); where it is off, it goes on to say so.
    local probe
    probe=$(trap 'exit 0' EXIT; trap - ERR; false; echo off)
    if [[ $probe == off ]]; then
        _bred_fail "capture_status called where errexit is off (if, while, ||, && or !): $*"
    fi
    # A background job starts with errexit as the test has it; only the
    # status of `wait` is then looked at.
    "$@" &
    _bred_status_var=0
    wait "$!" || _bred_status_var=$?
}

# --- assertions ----------------------------------------------------------------

# fail MESSAGE: end the test as failed, saying why and where.
fail() { _bred_fail "$*"; }

# assert_eq ACTUAL EXPECTED [MESSAGE]
assert_eq() {
    [[ $1 == "$2" ]] && return 0
    _bred_fail "${3:+$3: }expected '$2', got '$1'"
}

# assert_ne ACTUAL UNEXPECTED [MESSAGE]
assert_ne() {
    [[ $1 != "$2" ]] && return 0
    _bred_fail "${3:+$3: }did not expect '$2'"
}

# assert_contains HAYSTACK NEEDLE [MESSAGE]
assert_contains() {
    [[ $1 == *"$2"* ]] && return 0
    _bred_fail "${3:+$3: }expected to find '$2' in:"$'\n'"$1"
}

# assert_not_contains HAYSTACK NEEDLE [MESSAGE]
assert_not_contains() {
    [[ $1 != *"$2"* ]] && return 0
    _bred_fail "${3:+$3: }did not expect '$2' in:"$'\n'"$1"
}

# assert_ok CMD [ARG...]: CMD must succeed (its output is shown on failure).
assert_ok() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    ((rc == 0)) && return 0
    _bred_fail "'$*' exited with $rc:"$'\n'"$out"
}

# assert_fails CMD [ARG...]: CMD must exit non-zero. (`! CMD` cannot say
# this: errexit ignores a negated command, so it never ends a test.)
assert_fails() {
    local rc=0
    "$@" > /dev/null 2>&1 || rc=$?
    ((rc != 0)) || _bred_fail "'$*' succeeded, expected it to fail"
}

# assert_fails_with ERRNAME CMD [ARG...]: CMD must exit non-zero and print
# ERRNAME (e.g. org.bredos.machine1.Error.NoSuchMachine, or just
# NoSuchMachine) on stderr. Its status, stdout and stderr are left in
# $last_status, $last_stdout and $last_stderr.
last_status=
last_stdout=
last_stderr=
assert_fails_with() {
    local errname=$1 errfile
    shift
    errfile=$(mktemp /tmp/bred-test-err.XXXXXX)
    last_status=0
    last_stdout=$("$@" 2>"$errfile") || last_status=$?
    last_stderr=$(<"$errfile")
    rm -f "$errfile"
    if ((last_status == 0)); then
        _bred_fail "'$*' succeeded, expected it to fail with $errname;" \
            "stdout:"$'\n'"$last_stdout"
    fi
    if [[ $last_stderr != *"$errname"* ]]; then
        _bred_fail "'$*' exited with $last_status but its stderr lacks" \
            "'$errname':"$'\n'"$last_stderr"
    fi
    return 0
}

# --- helpers -------------------------------------------------------------------

# as_user USER CMD [ARG...]: run a program as an unprivileged user, with a
# clean environment and no login session. The user's own uid and groups are
# what the bus (and so polkit) sees.
as_user() {
    local user=$1 home
    shift
    home=$(getent passwd "$user" | cut -d: -f6) || {
        echo "as_user: no such user: $user" >&2
        return 1
    }
    runuser -u "$user" -- env -i \
        PATH="$BRED_USER_PATH" HOME="$home" USER="$user" LOGNAME="$user" \
        SHELL=/bin/bash LANG=C.UTF-8 "$@"
}

# wait_for TIMEOUT_SECONDS CMD [ARG...]: poll CMD every 0.2 s until it
# succeeds; fail after TIMEOUT_SECONDS.
wait_for() {
    local timeout=$1 deadline
    shift
    deadline=$(($(date +%s%N) + timeout * 1000000000))
    while true; do
        "$@" >/dev/null 2>&1 && return 0
        if (($(date +%s%N) >= deadline)); then
            echo "# wait_for: '$*' did not succeed within ${timeout}s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# bus_call METHOD [SIGNATURE [ARG...]]: call a Manager method with busctl.
# busctl options (e.g. --json=short) may go before METHOD.
bus_call() {
    local opts=()
    while [[ ${1:-} == -* ]]; do opts+=("$1"); shift; done
    busctl --system "${opts[@]}" call "$BRED_BUS_NAME" "$BRED_BUS_PATH" \
        "$BRED_MANAGER_IFACE" "$@"
}

# bus_call_as USER METHOD [SIGNATURE [ARG...]]: the same, as USER.
bus_call_as() {
    local user=$1 opts=()
    shift
    while [[ ${1:-} == -* ]]; do opts+=("$1"); shift; done
    as_user "$user" busctl --system "${opts[@]}" call "$BRED_BUS_NAME" \
        "$BRED_BUS_PATH" "$BRED_MANAGER_IFACE" "$@"
}

# machine_path NAME: the object path of machine NAME (sd_bus_path_encode).
machine_path() {
    local name=$1 out='' c i hex
    for ((i = 0; i < ${#name}; i++)); do
        c=${name:i:1}
        # sd_bus_path_encode() escapes all but [A-Za-z0-9], and a leading digit
        if [[ $c == [A-Za-z] ]] || { ((i > 0)) && [[ $c == [0-9] ]]; }; then
            out+=$c
        else
            printf -v hex '_%02x' "'$c"
            out+=$hex
        fi
    done
    [[ -n $name ]] || out=_
    echo "$BRED_BUS_PATH/machine/$out"
}

# make_fake_os_tree NAME [ID]: a minimal machine directory with an os-release,
# enough to be listed but not to boot. Prints its path.
make_fake_os_tree() {
    local name=$1 id=${2:-fakeos} dir
    dir=$BRED_MACHINES_DIR/$name
    mkdir -p "$dir/usr/lib" "$dir/etc"
    cat > "$dir/usr/lib/os-release" <<EOF
ID=$id
NAME="Fake ${id^}"
PRETTY_NAME="Fake ${id^} 1.0"
VERSION_ID=1.0
EOF
    ln -sfn ../usr/lib/os-release "$dir/etc/os-release"
    echo "$dir"
}

# make_bootable_tree NAME: copy the testbed's own pristine Debian tree to
# /var/lib/machines/NAME; it boots with systemd. Prints its path.
make_bootable_tree() {
    local name=$1 dir
    dir=$BRED_MACHINES_DIR/$name
    [[ -d $BRED_TESTBED_ROOTFS/usr ]] || {
        echo "make_bootable_tree: no rootfs at $BRED_TESTBED_ROOTFS" >&2
        return 1
    }
    mkdir -p "$dir"
    cp -a --reflink=auto "$BRED_TESTBED_ROOTFS/." "$dir/"
    rm -f "$dir/.complete"
    echo "$dir"
}

# remove_machine_dirs NAME...: remove machine directories, their .nspawn
# settings and the daemon's drop-in for machinectl's unit, whatever state a test left them in.
remove_machine_dirs() {
    local name
    for name in "$@"; do
        [[ -n $name && $name != */* && $name != . && $name != .. ]] || continue
        if [[ -e $BRED_MACHINES_DIR/$name ]]; then
            chattr -R -f -i "$BRED_MACHINES_DIR/$name" 2>/dev/null || true
        fi
        rm -rf --one-file-system "${BRED_MACHINES_DIR:?}/$name"
        rm -f "/etc/systemd/nspawn/$name.nspawn"
        rm -rf "/etc/systemd/system/systemd-nspawn@$name.service.d"
    done
}

# --- probes --------------------------------------------------------------------
# Probes for wait_for: each succeeds only on positive evidence, never because
# the thing it asks (the daemon, pgrep, a container) failed to answer.

# job_gone ID: the daemon answered ListJobs, and job ID is not among them.
job_gone() {
    local jobs
    jobs=$(bus_call ListJobs) || return 1
    [[ $jobs != *"/job/$1\""* ]]
}

# machine_unlisted NAME: the daemon answered ListMachines without NAME.
machine_unlisted() {
    local machines
    machines=$(bus_call ListMachines) || return 1
    [[ $machines != *"\"$1\""* ]]
}

# no_process PATTERN: pgrep ran and found no process whose command line
# matches PATTERN (status 1; 2 and 3 are pgrep's own errors).
no_process() {
    local rc=0
    pgrep -f -- "$1" > /dev/null || rc=$?
    ((rc == 1))
}

# container_running NAME: the container's own systemd says "running" (not
# "degraded"; its failed units are then shown).
container_running() {
    local state
    # Just after a (re)boot the container's bus may not be up yet.
    wait_for 60 systemd-run -M "$1" --wait --pipe -q true || return 1
    state=$(systemd-run -M "$1" --wait --pipe -q systemctl is-system-running --wait 2>&1) || true
    [[ $state == running ]] && return 0
    echo "# the system in '$1' is '$state'; failed units:" >&2
    systemd-run -M "$1" --wait --pipe -q systemctl --failed --no-legend --plain >&2 || true
    return 1
}

# --- helpers shared by the capability tests ----------------------------------

# gcall METHOD ARG...: a Manager call with gdbus, which (unlike busctl) prints
# the D-Bus error name on failure.
gcall() {
    local method=$1
    shift
    gdbus call --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" \
        --method "$BRED_MANAGER_IFACE.$method" -- "$@"
}

# machine_prop NAME PROPERTY: a Machine property as busctl prints it.
machine_prop() {
    busctl --system get-property "$BRED_BUS_NAME" "$(machine_path "$1")" org.bredos.machine1.Machine "$2"
}

# no_leftovers: fails when a temporary tree of the daemon is left behind.
no_leftovers() {
    local left
    left=$(find "$BRED_MACHINES_DIR" -maxdepth 1 -name '.#bred-*')
    [[ -z $left ]] || { echo "left behind: $left"; return 1; }
}

# register_running NAME / unregister_running NAME: registers NAME with the
# real systemd-machined as nspawn would (a sleeping leader in a unit of its
# own, bred-test-NAME.service), so the daemon sees it running.
register_running() {
    systemd-run --unit="bred-test-$1" --property=Type=simple sleep 600
    local pid
    pid=$(systemctl show -P MainPID "bred-test-$1.service")
    busctl --system call org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager RegisterMachine 'sayssus' "$1" 0 bred-test container "$pid" \
        "$BRED_MACHINES_DIR/$1"
    wait_for 10 bash -c "busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State | grep -q running"
}
unregister_running() {
    busctl --system call org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager TerminateMachine s "$1" || true
    systemctl stop "bred-test-$1.service" 2> /dev/null || true
    wait_for 10 bash -c "busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State | grep -q stopped"
}
