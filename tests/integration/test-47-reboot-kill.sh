#!/usr/bin/env bash
# Reboot and Kill of running containers through machined, as machinectl
# reboot and kill do; and the DiskUsage of a machine's tree.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_of() {
    busctl --system get-property "$BRED_BUS_NAME" "$(machine_path "$1")" org.bredos.machine1.Machine State
}
wait_state() { wait_for "${3:-60}" bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State) == 's \"$2\"' ]]"; }
leader_of() { machinectl show "$1" --property=Leader --value; }
# new_leader NAME PID: NAME runs again, with a leader other than PID.
new_leader() {
    local now
    now=$(leader_of "$1" 2> /dev/null) || return 1
    [[ -n $now && $now != "$2" ]]
}
# ended NAME PID: the process PID (the old leader) is gone and NAME is stopped or failed for the daemon.
ended() {
    [[ ! -e /proc/$2 ]] || return 1
    local state
    state=$(state_of "$1") || return 1
    [[ $state == 's "stopped"' || $state == 's "failed"' ]]
}
# as_bob_call METHOD ARG...: a Manager call by the unprivileged bob, with gdbus (which names the error).
as_bob_call() {
    local method=$1
    shift
    as_user bob gdbus call --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" \
        --method "$BRED_MANAGER_IFACE.$method" -- "$@"
}

setup() {
    remove_machine_dirs rk1 du1
    make_bootable_tree rk1 > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^rk1 '"
}

teardown() {
    systemctl stop bred-machine-rk1.service systemd-nspawn@rk1.service 2> /dev/null || true
    remove_machine_dirs rk1 du1
}

test_refusals_of_a_stopped_machine() {
    assert_fails_with org.bredos.machine1.Error.NotRunning gcall Reboot rk1
    assert_fails_with org.bredos.machine1.Error.NotRunning gcall Kill rk1 all 15
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Reboot nosuch
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Kill nosuch all 15
    assert_fails_with org.bredos.machine1.Error.InvalidName gcall Kill ../x all 15
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Kill rk1 all 0
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Kill rk1 all 65
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Kill rk1 main 15
}

test_reboot_comes_back() {
    bredmachine start rk1 > /dev/null 2>&1
    container_running rk1
    local before unit
    before=$(leader_of rk1)
    [[ -n $before ]]
    unit=$(machine_prop rk1 Unit)
    gcall Reboot rk1
    # Evidence of a reboot: a new leader (the container's PID 1), not only the
    # state "running" that held before it too; and the same unit.
    wait_for 60 new_leader rk1 "$before"
    wait_state rk1 running 60
    container_running rk1
    assert_eq "$(machine_prop rk1 Unit)" "$unit"
}

test_strangers_are_refused() {
    local before
    before=$(leader_of rk1)
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied as_bob_call Reboot rk1
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied as_bob_call Kill rk1 all 9
    assert_eq "$(leader_of rk1)" "$before"
    assert_eq "$(state_of rk1)" 's "running"'
}

test_kill_leader_with_a_harmless_signal() {
    local before
    before=$(leader_of rk1)
    # SIGCONT: delivered, and nothing changes in a running systemd.
    gcall Kill rk1 leader 18
    sleep 1
    assert_eq "$(leader_of rk1)" "$before"
    assert_eq "$(state_of rk1)" 's "running"'
}

test_sigkill_to_all_ends_it() {
    local before
    before=$(leader_of rk1)
    gcall Kill rk1 all 9
    wait_for 30 ended rk1 "$before"
    # The daemon goes on answering.
    assert_contains "$(bus_call ListMachines)" '"rk1"'
}

test_machinectl_started() {
    # machined finds the unit of a container it did not see us start.
    machinectl start rk1
    container_running rk1
    wait_state rk1 running 30
    assert_eq "$(machine_prop rk1 Unit)" 's "systemd-nspawn@rk1.service"'
    local before
    before=$(leader_of rk1)
    gcall Reboot rk1
    wait_for 60 new_leader rk1 "$before"
    wait_state rk1 running 60
    container_running rk1
    before=$(leader_of rk1)
    gcall Kill rk1 all 9
    wait_for 30 ended rk1 "$before"
}

test_disk_usage() {
    local dir usage expected
    dir=$(make_fake_os_tree du1)
    dd if=/dev/urandom of="$dir/usr/lib/data" bs=1M count=8 status=none
    mkdir -p "$dir/var/lib/x"
    head -c 100000 /dev/urandom > "$dir/var/lib/x/small"
    ln "$dir/usr/lib/data" "$dir/var/lib/x/data-again"
    # A symlink to the host's root inside the tree is not followed.
    ln -s / "$dir/host-root"
    wait_for 10 bash -c "bredmachine list | grep -q '^du1 '"
    # Reading asks for a measurement; the value comes in the background.
    wait_for 30 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path du1) org.bredos.machine1.Machine DiskUsage) != 't 18446744073709551615' ]]"
    usage=$(machine_prop du1 DiskUsage)
    usage=${usage#t }
    expected=$(du -sB1 --one-file-system "$dir" | cut -f1)
    echo "DiskUsage $usage, du $expected"
    ((usage * 10 >= expected * 9 && usage * 10 <= expected * 11))
    ((usage < 64 * 1024 * 1024))
    ((usage >= 8 * 1024 * 1024))
}

test_disk_usage_after_a_job() {
    local dir before after
    dir=$BRED_MACHINES_DIR/du1
    before=$(machine_prop du1 DiskUsage)
    before=${before#t }
    dd if=/dev/urandom of="$dir/usr/lib/more" bs=1M count=8 status=none
    local monitor_log monitor_pid
    monitor_log=$(mktemp /tmp/bred-monitor.XXXXXX)
    gdbus monitor --system --dest "$BRED_BUS_NAME" --object-path "$(machine_path du1)" > "$monitor_log" 2>&1 &
    monitor_pid=$!
    sleep 1
    # The end of a job on the machine measures it again, whatever the job's
    # result (this tree cannot run the command).
    bredmachine run du1 -- true > /dev/null 2>&1 || true
    wait_for 30 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path du1) org.bredos.machine1.Machine DiskUsage) != 't $before' ]]"
    after=$(machine_prop du1 DiskUsage)
    after=${after#t }
    ((after >= before + 8 * 1024 * 1024))
    # The new value was signalled.
    wait_for 5 grep -q "'DiskUsage': <uint64 $after>" "$monitor_log"
    kill "$monitor_pid"
    wait "$monitor_pid" 2> /dev/null || true
    rm -f "$monitor_log"
}

run_setup setup teardown
run_test "reboot and kill refuse stopped, unknown machines and bad arguments" test_refusals_of_a_stopped_machine
run_test "reboot brings the container back with a new init" test_reboot_comes_back
run_test "an unprivileged caller may not reboot or kill" test_strangers_are_refused
run_test "kill sends a signal to the leader" test_kill_leader_with_a_harmless_signal
run_test "SIGKILL to all ends the container" test_sigkill_to_all_ends_it
run_test "reboot and kill work on a container machinectl started" test_machinectl_started
run_test "DiskUsage is the tree's, without following a symlink to /" test_disk_usage
run_test "DiskUsage is measured again after a job, and signalled" test_disk_usage_after_a_job
run_teardown teardown
