#!/usr/bin/env bash
# Run, AddUser, shell, Enable/Disable and status for real: commands run in a
# nested container booted by systemd (through its own systemd) and in a
# stopped one (through systemd-nspawn as a transient unit on the testbed's
# systemd), with the caller's own descriptors; boot-time units enabled through
# systemd's EnableUnitFiles and started by machines.target.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_of() { machine_prop "$1" State; }
wait_state() { wait_for "${3:-60}" bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State) == 's \"$2\"' ]]"; }

setup() {
    remove_machine_dirs run1
    rm -f /etc/systemd/system/bred-machine-run1.service
    echo "tree of run1" > "$(make_bootable_tree run1)/etc/bred-marker"
    wait_for 10 bash -c "bredmachine list | grep -q '^run1 '"
}

teardown() {
    bredmachine stop run1 > /dev/null 2>&1 || true
    remove_machine_dirs run1
    rm -f /etc/systemd/system/bred-machine-run1.service
}

# The same checks whether the container runs or not.
check_run_passes_everything_through() {
    assert_eq "$(bredmachine run run1 -- cat /etc/bred-marker)" "tree of run1"
    # The caller's stdin, stdout and stderr are the command's own.
    assert_eq "$(echo from-stdin | bredmachine run run1 -- cat)" from-stdin
    assert_eq "$(bredmachine run run1 -- sh -c 'echo to-stderr >&2' 2>&1 > /dev/null)" to-stderr
    local rc=0
    bredmachine run run1 -- sh -c 'exit 7' || rc=$?
    assert_eq "$rc" 7
    assert_eq "$(bredmachine run run1 --user nobody -- id -un)" nobody
    # shellcheck disable=SC2016 # expanded by the shell inside the container
    assert_eq "$(bredmachine run run1 --env GREETING=hello -- sh -c 'echo $GREETING')" hello
    assert_eq "$(bredmachine run run1 --cwd /etc -- pwd)" /etc
    # Large output arrives whole.
    assert_eq "$(bredmachine run run1 -- sh -c 'seq 1 200000' | wc -l)" 200000
}

test_run_in_a_stopped_container() {
    check_run_passes_everything_through
    # Nothing was left running or registered.
    assert_eq "$(state_of run1)" 's "stopped"'
    assert_not_contains "$(machinectl list --no-legend)" run1
    # shellcheck disable=SC2143 # grep -q would end systemctl with SIGPIPE under pipefail
    [[ -z $(systemctl list-units --no-legend --all 'bred-run-*' | grep -v -e inactive -e 'not-found') ]]
}

test_run_in_a_running_container() {
    bredmachine start run1 > /dev/null 2>&1
    container_running run1
    check_run_passes_everything_through
    # It runs inside the booted container, under its systemd.
    assert_eq "$(bredmachine run run1 -- cat /proc/1/comm)" systemd
    assert_contains "$(bredmachine run run1 -- cat /proc/self/cgroup)" bred-run-
    # A command that cannot start is an error, not a silent status.
    assert_fails_with "could not be executed" bredmachine run run1 -- /no/such/command
    assert_eq "$(state_of run1)" 's "running"'
}

test_run_errors() {
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password run run1 -- true
    assert_eq "$last_status" 4
    # busctl cannot pass descriptors: the client passes its own, and prints the daemon's message.
    assert_fails_with "absolute" bredmachine run run1 --cwd relative/dir -- true
    assert_fails_with "not a valid user name" bredmachine run run1 --user 'bad:user' -- true
    assert_fails_with "NAME=VALUE" bredmachine run run1 --env NOEQUALS -- true
    assert_fails_with "No machine" bredmachine run nosuch -- true
    assert_fails_with "Wrong number of arguments" bredmachine run run1 --
    remove_machine_dirs tmplr
    make_fake_os_tree tmplr > /dev/null
    chattr +i "$BRED_MACHINES_DIR/tmplr"
    wait_for 10 bash -c "bredmachine list | grep -q '^tmplr '"
    assert_fails_with "is a template" bredmachine run tmplr -- true
    remove_machine_dirs tmplr
}

# no_sleep_inside NAME: a command in NAME ran and found no `sleep` there.
no_sleep_inside() {
    local rc=0
    bredmachine run "$1" -- sh -c 'if pgrep -x sleep > /dev/null; then exit 10; else exit 11; fi' || rc=$?
    ((rc == 11))
}

test_cancel_stops_the_command() {
    local started=$SECONDS rc=0 err
    err=$(timeout --preserve-status -s INT 3 bredmachine run run1 -- sleep 600 2>&1 > /dev/null) || rc=$?
    ((SECONDS - started < 20)) || { echo "cancel took $((SECONDS - started))s"; return 1; }
    # The client canceled the job and said so; timeout(1) did not kill it.
    assert_eq "$rc" 1
    assert_contains "$err" "was canceled"
    wait_for 20 no_sleep_inside run1
}

test_add_user() {
    # "secret", as `openssl passwd -6 -salt saltsalt secret` makes it.
    # shellcheck disable=SC2016 # a crypt(3) hash, not an expansion
    local hash='$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1'
    bredmachine add-user run1 carol --groups users,audio --shell /bin/bash --password-hash "$hash"
    # The user exists, with the hash, the groups, a home, and can run commands as themselves.
    assert_eq "$(bredmachine run run1 --user carol -- id -un)" carol
    assert_contains "$(bredmachine run run1 --user carol -- id -Gn)" audio
    assert_contains "$(bredmachine run run1 -- getent shadow carol)" "$hash"
    assert_eq "$(bredmachine run run1 -- getent passwd carol | cut -d: -f7)" /bin/bash
    assert_eq "$(bredmachine run run1 --user carol --cwd '~' -- pwd)" /home/carol
    assert_fails_with "exists already" bredmachine add-user run1 carol
    assert_fails_with InvalidArgs gcall AddUser run1 carol2 "{'password_hash': <'plaintext'>}"
    assert_contains "$last_stderr" "crypt(3)"
    assert_fails_with org.bredos.machine1.Error.InvalidName gcall AddUser run1 0bad '{}'
    assert_fails_with InvalidArgs gcall AddUser run1 dave "{'shell': <'bin/sh'>}"
    assert_fails_with "does not exist" bredmachine add-user run1 dave --groups nosuchgroup
    # Refused requests leave no user behind.
    assert_fails bredmachine run run1 -- getent passwd dave
    assert_fails bredmachine run run1 -- getent passwd carol2
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password add-user run1 eve
}

test_shell() {
    local out rc=0
    # Without a terminal: a login shell reading our stdin.
    # shellcheck disable=SC2016 # expanded by the shell inside the container
    out=$(printf 'echo "user=$(id -un) home=$PWD"\nexit 3\n' | bredmachine shell carol@run1) || rc=$?
    assert_eq "$rc" 3
    assert_contains "$out" "user=carol home=/home/carol"
    # On a terminal: the shell gets a terminal of its own as its controlling one.
    rc=0
    # (Typed once the shell is up: a shell starting discards what was typed ahead.)
    # shellcheck disable=SC2016 # expanded by the shell inside the container
    out=$( (sleep 5; printf 'read -r _ _ _ _ _ _ tty _ < /proc/$$/stat; echo "ctty=$tty"; exit 4\n') |
        script -qec "bredmachine shell run1" /dev/null) || rc=$?
    assert_eq "$rc" 4
    [[ $out =~ ctty=[1-9] ]] || { echo "no controlling terminal: $out"; return 1; }
    # The same in a stopped container, where systemd-nspawn gives the shell its terminal.
    bredmachine stop run1 > /dev/null 2>&1
    rc=0
    # shellcheck disable=SC2016 # expanded by the shell inside the container
    out=$( (sleep 5; printf 'read -r _ _ _ _ _ _ tty _ < /proc/$$/stat; echo "ctty=$tty"; exit 5\n') |
        script -qec "bredmachine shell run1" /dev/null) || rc=$?
    assert_eq "$rc" 5
    [[ $out =~ ctty=[1-9] ]] || { echo "no controlling terminal: $out"; return 1; }
}

test_enable_starts_at_boot() {
    bredmachine stop run1 > /dev/null 2>&1 || true
    wait_state run1 stopped 30
    # Enabled by machinectl before: ours replaces it, so one unit starts it at boot.
    machinectl enable run1
    bredmachine enable run1
    [[ ! -e /etc/systemd/system/machines.target.wants/systemd-nspawn@run1.service ]]
    assert_eq "$(systemctl is-enabled bred-machine-run1.service)" enabled
    assert_eq "$(machine_prop run1 Enabled)" "b true"
    assert_contains "$(cat /etc/systemd/system/bred-machine-run1.service)" "--notify-ready=yes"
    # What boot does: machines.target pulls it in.
    systemctl start machines.target
    wait_state run1 running 90
    assert_eq "$(systemctl show -P FragmentPath bred-machine-run1.service)" /etc/systemd/system/bred-machine-run1.service
    assert_eq "$(systemctl show -P Type bred-machine-run1.service)" notify
    bredmachine stop run1 > /dev/null 2>&1
    # Start uses the same unit.
    bredmachine start run1 > /dev/null 2>&1
    assert_eq "$(systemctl show -P FragmentPath bred-machine-run1.service)" /etc/systemd/system/bred-machine-run1.service
    bredmachine stop run1 > /dev/null 2>&1
    bredmachine disable run1
    [[ $(systemctl is-enabled bred-machine-run1.service 2>&1) != enabled ]]
    [[ ! -e /etc/systemd/system/bred-machine-run1.service ]]
    assert_eq "$(machine_prop run1 Enabled)" "b false"
    # Disable again is fine; start is transient again.
    bredmachine disable run1
    bredmachine start run1 > /dev/null 2>&1
    assert_eq "$(systemctl show -P Transient bred-machine-run1.service)" yes
    bredmachine stop run1 > /dev/null 2>&1
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password enable run1
}

test_enabled_machines_renamed_and_removed() {
    remove_machine_dirs en1 en2
    make_fake_os_tree en1 > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^en1 '"
    bredmachine enable en1
    bredmachine rename en1 en2
    assert_eq "$(systemctl is-enabled bred-machine-en2.service)" enabled
    [[ ! -e /etc/systemd/system/bred-machine-en1.service ]]
    assert_contains "$(cat /etc/systemd/system/bred-machine-en2.service)" "--machine=en2"
    bredmachine remove en2 > /dev/null 2>&1
    [[ ! -e /etc/systemd/system/bred-machine-en2.service ]]
    [[ ! -e /etc/systemd/system/machines.target.wants/bred-machine-en2.service ]]
    remove_machine_dirs tmple
    make_fake_os_tree tmple > /dev/null
    chattr +i "$BRED_MACHINES_DIR/tmple"
    wait_for 10 bash -c "bredmachine list | grep -q '^tmple '"
    assert_fails_with NotSupported gcall Enable tmple
    [[ ! -e /etc/systemd/system/bred-machine-tmple.service ]]
    remove_machine_dirs tmple
}

test_status_shows_the_journal() {
    bredmachine start run1 > /dev/null 2>&1
    local out
    out=$(bredmachine status run1)
    assert_contains "$out" "State:"
    assert_contains "$out" "running"
    assert_contains "$out" "bred-machine-run1.service"
    # The unit's last journal lines, as systemctl status shows them.
    assert_contains "$out" "Started"
    bredmachine stop run1 > /dev/null 2>&1
}

test_stopped_from_outside() {
    bredmachine start run1 > /dev/null 2>&1
    machinectl terminate run1
    wait_state run1 stopped 30
    bredmachine start run1 > /dev/null 2>&1
    systemctl stop bred-machine-run1.service
    wait_state run1 stopped 30
}

run_setup setup teardown
run_test "run in a stopped container: descriptors, status, user, env, cwd" test_run_in_a_stopped_container
run_test "run in a running container, under its own systemd" test_run_in_a_running_container
run_test "run refuses bad requests, templates and strangers" test_run_errors
run_test "cancel stops the command" test_cancel_stops_the_command
run_test "add-user makes a user that can run commands" test_add_user
run_test "shell: a login shell, with a terminal when we have one" test_shell
run_test "enable: machines.target starts it; disable undoes it" test_enable_starts_at_boot
run_test "enabled machines keep their boot unit through rename and remove" test_enabled_machines_renamed_and_removed
run_test "status shows the unit's last journal lines" test_status_shows_the_journal
run_test "a container stopped from outside shows stopped" test_stopped_from_outside

# Enabled follows the unit files, whoever changes them: systemd announces
# UnitFilesChanged, and the daemon looks again.
test_enabled_follows_systemctl() {
    remove_machine_dirs en3
    make_fake_os_tree en3 > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^en3 '"
    local path enabled
    path=$(machine_path en3)
    enabled="busctl --system get-property $BRED_BUS_NAME $path org.bredos.machine1.Machine Enabled"
    bredmachine enable en3
    assert_eq "$(machine_prop en3 Enabled)" "b true"
    systemctl disable bred-machine-en3.service
    wait_for 10 bash -c "[[ \$($enabled) == 'b false' ]]"
    systemctl enable bred-machine-en3.service
    wait_for 10 bash -c "[[ \$($enabled) == 'b true' ]]"
    bredmachine disable en3
    assert_eq "$(machine_prop en3 Enabled)" "b false"
    remove_machine_dirs en3
}

run_test "Enabled follows systemctl enable and disable from a shell" test_enabled_follows_systemctl
run_teardown teardown
