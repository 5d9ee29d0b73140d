#!/usr/bin/env bash
# bredmachine logs: the host's log of a machine's unit and the machine's own
# journal, with -n, --since and --follow, for a running and a stopped
# container; refused to an unprivileged caller; what root inside writes is read
# inside, by the container's journalctl.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup() {
    remove_machine_dirs lg1 lgtemplate
    make_bootable_tree lg1 > /dev/null
    wait_for 10 bash -c "bredmachine list --no-legend | grep -q '^lg1 '"
    bredmachine start lg1 > /dev/null 2>&1
    container_running lg1
}

teardown() {
    bredmachine stop --force lg1 > /dev/null 2>&1 || true
    remove_machine_dirs lg1 lgtemplate
}

running() { [[ $(machine_prop "$1" State) == 's "running"' ]]; }

# mark TAG: a line with TAG in the container's journal, written inside.
mark() { bredmachine run lg1 -- logger -t bredtest "$1"; }

test_running_and_stopped() {
    local out
    mark first-mark-$$
    out=$(bredmachine logs lg1)
    # The host's lines about the unit (systemd's and nspawn's), then the container's own.
    assert_contains "$out" "bred-machine-lg1.service"
    assert_contains "$out" "bredtest["
    assert_contains "$out" "first-mark-$$"
    # -n: the last lines of each log (the container's own systemd logs the
    # runs of commands after a mark, so the mark itself may be older).
    mark second-mark-$$
    out=$(bredmachine logs lg1 -n 1 2>&1)
    assert_eq "$(wc -l <<< "$out")" 2
    assert_not_contains "$out" "first-mark-$$"
    assert_contains "$(bredmachine logs lg1 -n 20)" "second-mark-$$"
    # --since: nothing of an hour from now.
    out=$(bredmachine logs lg1 --since=+1h 2>&1)
    assert_not_contains "$out" "second-mark-$$"
    # Stopped, its journal is still read, inside its tree.
    bredmachine stop lg1 > /dev/null 2>&1
    out=$(bredmachine logs lg1 2>&1)
    assert_contains "$out" "second-mark-$$"
    assert_contains "$out" "bred-machine-lg1.service"
    assert_fails_with "nothing to follow" bredmachine logs lg1 --follow
    assert_eq "$last_status" 1
}

test_follow() {
    local out pid
    out=$(mktemp /tmp/bred-logs.XXXXXX)
    running lg1 || bredmachine start lg1 > /dev/null 2>&1
    container_running lg1
    bredmachine logs lg1 -f -n 0 > "$out" 2>&1 &
    pid=$!
    # Until the container's journalctl follows, marks are not yet shown: mark until one is.
    wait_for 60 bash -c "bredmachine run lg1 -- logger -t bredtest follow-mark-$$ && grep -q follow-mark-$$ $out"
    kill -INT "$pid"
    wait_for 20 bash -c "! kill -0 $pid"
    wait "$pid" || true
    # Nothing is left behind: no job, no journalctl of the host.
    wait_for 20 bash -c "[[ -z \$(bredmachine jobs --no-legend) ]]"
    wait_for 10 bash -c "! pgrep -f 'journalctl --unit=bred-machine-lg[1]'"
    # A container that stops ends the following.
    bredmachine logs lg1 -f > "$out" 2>&1 &
    pid=$!
    wait_for 60 bash -c "grep -q bredtest $out"
    bredmachine stop lg1 > /dev/null 2>&1
    wait_for 60 bash -c "! kill -0 $pid"
    wait "$pid" || true
    rm -f "$out"
}

test_refusals() {
    assert_fails_with "--lines takes a number" bredmachine logs lg1 -n many
    assert_eq "$last_status" 2
    assert_fails_with "No machine 'nosuch' exists" bredmachine logs nosuch
    # A template, installed as templates are.
    local tree
    tree=$(mktemp -d /tmp/bred-logs-tree.XXXXXX)
    mkdir -p "$tree/usr/lib"
    printf 'ID=debian\nNAME=Debian\n' > "$tree/usr/lib/os-release"
    tar -C "$tree" -cf "$tree.tar" .
    bredmachine import lgtemplate "$tree.tar" --verify=no > /dev/null 2>&1
    rm -rf "$tree" "$tree.tar"
    assert_fails_with "lgtemplate is a template: templates never run, so they have no log." bredmachine logs lgtemplate
    remove_machine_dirs lgtemplate
    # bob, in no group polkit trusts, cannot read inside: exit 4; the daemon still answers.
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password logs lg1
    assert_eq "$last_status" 4
    assert_ok bredmachine list
}

run_setup setup teardown
run_test "logs of a running and a stopped container, -n and --since" test_running_and_stopped
run_test "logs --follow, ended by ^C and by the container stopping" test_follow
run_test "logs: bad usage, unknown machine, an unprivileged caller" test_refusals
