#!/usr/bin/env bash
# The client's conventions against the real daemon, as a machinectl user
# expects them: listings with and without their legend, the JSON modes, job
# verbs that return at once, poweroff and terminate, shell USER@NAME with a
# command, run --pty, login, status with the unit's process tree,
# and -H refused where descriptors would have to cross SSH.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

state_of() { machine_prop "$1" State; }
wait_state() { wait_for "${3:-60}" bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State) == 's \"$2\"' ]]"; }

setup() {
    remove_machine_dirs cli1 cli2
    make_bootable_tree cli1 > /dev/null
    make_fake_os_tree cli2 debian > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^cli2 '"
}

teardown() {
    bredmachine stop cli1 > /dev/null 2>&1 || true
    remove_machine_dirs cli1 cli2
}

test_listings_and_json() {
    local out
    # The first look at a new machine measures its disk usage and shows it.
    out=$(bredmachine status cli2)
    assert_not_contains "$out" "not measured"
    [[ $out =~ Disk\ usage:\ +[0-9.]+\ (B|KiB|MiB) ]] || fail "no disk usage: $out"
    out=$(bredmachine list)
    assert_contains "$out" "NAME"
    assert_contains "$out" "machines listed."
    out=$(bredmachine list --no-legend)
    assert_not_contains "$out" "NAME"
    assert_not_contains "$out" "listed."
    [[ $out =~ (^|$'\n')cli2\ +container\ +stopped ]] || fail "no data row for cli2: $out"
    # Short JSON is one line; pretty JSON is indented; both parse.
    out=$(bredmachine list --json=short)
    assert_eq "$(wc -l <<< "$out")" 1
    assert_eq "$(jq -r '.[] | select(.name == "cli2") | .state' <<< "$out")" stopped
    out=$(bredmachine --json=pretty list)
    (($(wc -l <<< "$out") > 5)) || fail "pretty JSON is not indented: $out"
    jq -e 'type == "array"' <<< "$out" > /dev/null
    out=$(bredmachine list -j)
    assert_eq "$(wc -l <<< "$out")" 1
    assert_eq "$(bredmachine list --json=off --no-legend | grep -c '^cli2 ')" 1
    out=$(bredmachine status cli2 --json=short)
    assert_eq "$(jq -r .Name <<< "$out")" cli2
    # --size adds the disk usage.
    out=$(bredmachine list --size)
    assert_contains "$out" "DISK"
    # Nothing but data with -q and --no-legend; --no-pager is accepted.
    assert_eq "$(bredmachine jobs -q --no-legend --no-pager)" ""
    assert_fails_with "--json takes pretty, short or off" bredmachine list --json=yaml
    assert_eq "$last_status" 2
}

test_usage_errors() {
    assert_fails_with "Unknown option '--force' for 'start'" bredmachine start cli1 --force
    assert_eq "$last_status" 2
    assert_contains "$(bredmachine start --help)" "Usage: bredmachine start"
    assert_contains "$(bredmachine kill --help)" "--signal"
    # Descriptors cannot cross SSH: refused before any connection.
    local verb
    for verb in "run cli1 true" "shell cli1" "login cli1" "import x /dev/null"; do
        # shellcheck disable=SC2086 # the verb and its arguments
        assert_fails_with "cannot cross an SSH connection" bredmachine -H nowhere.invalid $verb
        assert_eq "$last_status" 2
    done
    # A machine named like a verb is just a name.
    assert_fails_with "" bredmachine -H nowhere.invalid --no-ask-password status network
    assert_ne "$last_status" 2
}

test_job_verbs_without_blocking() {
    local out
    out=$(bredmachine start cli1 --no-block)
    [[ $out =~ ^/org/bredos/machine1/job/[0-9]+$ ]] || fail "not a job path: $out"
    wait_state cli1 running 90
    # The unit's processes as a tree, the disk usage and the journal.
    out=$(bredmachine status cli1)
    assert_contains "$out" "CGroup:"
    assert_contains "$out" "/machine.slice/"
    assert_contains "$out" "init.scope"
    assert_contains "$out" "Disk usage:"
    # reboot: the container's init reboots it, and it comes back in the same unit.
    local leader
    leader=$(machinectl show cli1 -p Leader --value)
    assert_ok bredmachine reboot cli1
    wait_for 90 bash -c "[[ \$(machinectl show cli1 -p Leader --value 2>/dev/null) =~ ^[0-9]+\$ && \$(machinectl show cli1 -p Leader --value) != $leader ]]"
    wait_state cli1 running 90
    assert_fails_with "is not a signal" bredmachine kill cli1 --signal=FOO
    assert_eq "$last_status" 2
    assert_ok bredmachine kill cli1 -s CONT --kill-whom=leader
    assert_eq "$(state_of cli1)" 's "running"'
    bredmachine poweroff cli1 > /dev/null 2>&1
    assert_eq "$(state_of cli1)" 's "stopped"'
    bredmachine start cli1 > /dev/null 2>&1
    bredmachine terminate cli1 > /dev/null 2>&1
    assert_eq "$(state_of cli1)" 's "stopped"'
}

test_shell_and_run_terminals() {
    local out rc=0
    bredmachine start cli1 > /dev/null 2>&1
    # shell USER@NAME COMMAND: the command as that user, in their home.
    out=$(bredmachine shell nobody@cli1 id -un)
    assert_eq "$out" nobody
    out=$(bredmachine shell root@cli1 sh -c 'pwd; exit 6') || rc=$?
    assert_eq "$rc" 6
    assert_eq "$out" /root
    # --pty: a terminal even from a pipe; without it, none.
    # (The terminal is ours, passed in: isatty() holds, though its name is not the container's /dev/pts.)
    out=$(echo | bredmachine run cli1 --pty -- sh -c 'test -t 0 && test -t 1 && echo on-a-terminal')
    assert_contains "$out" on-a-terminal
    out=$(echo | bredmachine run cli1 -- sh -c 'test -t 0 || test -t 1 || echo no-terminal')
    assert_eq "$out" no-terminal
    # login: a login prompt on a pty opened inside the container (util-linux's
    # login, Debian 13's and Arch's, reopens its terminal by name there), a
    # whole session, a logout that brings the next prompt, and ^]^]^] to leave.
    assert_fails_with "login needs a terminal" bredmachine login cli1 < /dev/null
    # "secret", as `openssl passwd -6 -salt saltsalt secret` makes it.
    # shellcheck disable=SC2016 # a crypt(3) hash, not an expansion
    local hash='$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1'
    bredmachine add-user cli1 dora --shell /bin/sh --password-hash "$hash" > /dev/null
    out=$(python3 "$here/login-session.py" cli1 dora secret) || fail "login session: $out"
    # The session ran on the container's own terminal, not the host's.
    [[ $out =~ session-of-dora-on-/dev/pts/[0-9]+ ]] || fail "no session line: $out"
    # bob, in no group polkit trusts, gets no terminal: "not authorized", exit 4.
    out=$(as_user bob script -qec "bredmachine --no-ask-password login cli1; echo exit=\$?" /dev/null 2>&1) || true
    assert_contains "$out" "exit=4"
    bredmachine stop cli1 > /dev/null 2>&1
    out=$(script -qec "bredmachine login cli1" /dev/null 2>&1) || true
    assert_contains "$out" "is not running"
}

run_setup setup teardown
run_test "list and status: legend, --no-legend, JSON modes, --size" test_listings_and_json
run_test "options per verb, VERB --help, -H refused for descriptor verbs" test_usage_errors
run_test "--no-block, status process tree, reboot, kill, poweroff and terminate" test_job_verbs_without_blocking
run_test "shell USER@NAME CMD, run --pty, login" test_shell_and_run_terminals
run_teardown teardown
