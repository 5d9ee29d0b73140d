#!/usr/bin/env bash
# Start and Stop for real: nested containers booting a real systemd tree as
# transient units started through systemd's D-Bus API, seen by machined and
# machinectl, with a State that follows them however they stop.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


state_of() {
    busctl --system get-property "$BRED_BUS_NAME" "$(machine_path "$1")" org.bredos.machine1.Machine State
}
wait_state() { wait_for "${3:-60}" bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State) == 's \"$2\"' ]]"; }

setup() {
    remove_machine_dirs boot1
    make_bootable_tree boot1 > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^boot1 '"
}

test_start_runs_a_ready_container() {
    local out
    out=$(bredmachine start boot1 2>&1)
    assert_eq "$(state_of boot1)" 's "running"'
    assert_contains "$(machinectl list --no-legend)" boot1
    # Ready means the container's own systemd said so.
    local unit
    unit=$(busctl --system get-property "$BRED_BUS_NAME" "$(machine_path boot1)" org.bredos.machine1.Machine Unit)
    assert_eq "$unit" 's "bred-machine-boot1.service"'
    assert_eq "$(systemctl show -P Type bred-machine-boot1.service)" notify
    assert_eq "$(systemctl show -P KillMode bred-machine-boot1.service)" mixed
    assert_eq "$(systemctl show -P Delegate bred-machine-boot1.service)" yes
    assert_eq "$(systemctl show -P Slice bred-machine-boot1.service)" machine.slice
    assert_eq "$(systemctl show -P Restart bred-machine-boot1.service)" on-failure
    assert_contains "$(systemctl show -P ExecStart bred-machine-boot1.service)" "--notify-ready=yes"
    systemd-run -M boot1 --wait --pipe -q systemctl is-system-running --wait > /dev/null || true
}

test_start_errors() {
    assert_fails_with org.bredos.machine1.Error.Busy gcall Start boot1 '{}'
    make_fake_os_tree tmplx > /dev/null
    chattr +i "$BRED_MACHINES_DIR/tmplx"
    wait_for 10 bash -c "bredmachine list | grep -q '^tmplx '"
    assert_fails_with org.bredos.machine1.Error.NotSupported gcall Start tmplx '{}'
    assert_contains "$last_stderr" "Clone it"
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Start nosuch '{}'
    remove_machine_dirs tmplx
}

test_reboot_inside_comes_back() {
    machinectl reboot boot1
    sleep 2
    wait_state boot1 running 60
    wait_for 60 bash -c "machinectl list --no-legend | grep -q boot1"
}

test_stop_powers_off() {
    bredmachine stop boot1 > /dev/null 2>&1
    assert_eq "$(state_of boot1)" 's "stopped"'
    ! machinectl list --no-legend | grep -q boot1
    assert_fails_with org.bredos.machine1.Error.NotRunning gcall Stop boot1 '{}'
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password start boot1
    assert_eq "$last_status" 4
    assert_eq "$(state_of boot1)" 's "stopped"'
}

test_poweroff_inside_stays_off() {
    bredmachine start boot1 > /dev/null 2>&1
    machinectl poweroff boot1
    wait_state boot1 stopped 60
    sleep 3
    assert_eq "$(state_of boot1)" 's "stopped"'
}

test_started_elsewhere_is_seen() {
    # State follows machined, whoever started the container.
    systemd-run --unit=bred-test-elsewhere -p Type=notify -p NotifyAccess=all -p Delegate=yes \
        systemd-nspawn --quiet --keep-unit --boot --machine=boot1 --directory="$BRED_MACHINES_DIR/boot1" \
        --notify-ready=yes
    wait_state boot1 running 60
    assert_contains "$(busctl --system get-property "$BRED_BUS_NAME" "$(machine_path boot1)" org.bredos.machine1.Machine Unit)" bred-test-elsewhere
    # Stop works on it too, through its own unit.
    bredmachine stop boot1 > /dev/null 2>&1
    wait_state boot1 stopped 30
}

test_force_stop() {
    bredmachine start boot1 > /dev/null 2>&1
    bredmachine stop boot1 --force > /dev/null 2>&1
    wait_state boot1 stopped 30
}

setup
run_test "start boots a ready container as a transient unit" test_start_runs_a_ready_container
run_test "start refuses running containers and templates" test_start_errors
run_test "a reboot inside the container comes back" test_reboot_inside_comes_back
run_test "stop powers the container off; strangers cannot start it" test_stop_powers_off
run_test "a poweroff inside stays off" test_poweroff_inside_stays_off
run_test "a container started elsewhere is seen and stopped" test_started_elsewhere_is_seen
run_test "stop --force terminates" test_force_stop
remove_machine_dirs boot1
