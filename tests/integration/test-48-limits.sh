#!/usr/bin/env bash
# Resource limits (SetLimits, bredmachine limit): kept in the machine's
# settings for every start, applied at once to a running container's unit,
# shown in the Limits property and by status; refused for templates,
# strangers and bad values.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_state() { wait_for "${3:-60}" bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$1") org.bredos.machine1.Machine State) == 's \"$2\"' ]]"; }
# unit_value UNIT PROPERTY: what systemd says of the running unit.
unit_value() { systemctl show -p "$2" --value "$1"; }
as_bob_call() {
    local method=$1
    shift
    as_user bob gdbus call --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" \
        --method "$BRED_MANAGER_IFACE.$method" -- "$@"
}

# client_status ARG...: the exit status of bredmachine ARG...
client_status() {
    local status=0
    bredmachine "$@" > /dev/null 2>&1 || status=$?
    echo "$status"
}

setup() {
    remove_machine_dirs lim1 lim1b tpl48
    make_bootable_tree lim1 > /dev/null
    chattr +i "$(make_fake_os_tree tpl48)"
    wait_for 10 bash -c "bredmachine list | grep -q '^lim1 '"
    wait_for 10 bash -c "bredmachine list | grep -q '^tpl48 '"
}

teardown() {
    systemctl stop bred-machine-lim1.service systemd-nspawn@lim1.service bred-machine-lim1b.service 2> /dev/null || true
    remove_machine_dirs lim1 lim1b tpl48
}

test_refusals() {
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits lim1 "{'MemoryLimit': <uint64 1>}"
    assert_contains "$last_stderr" "Unknown option 'MemoryLimit'"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits lim1 "{'MemoryMax': <'2G'>}"
    assert_contains "$last_stderr" "must be an unsigned 64-bit number (t), not 's'"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits lim1 "{'CPUQuota': <uint64 50>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits lim1 "{'CPUWeight': <uint64 20000>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits lim1 "{'CPUQuota': <uint32 2000000>}"
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall SetLimits nosuch "{'TasksMax': <uint64 10>}"
    assert_fails_with org.bredos.machine1.Error.NotSupported gcall SetLimits tpl48 "{'TasksMax': <uint64 10>}"
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied as_bob_call SetLimits lim1 "{'TasksMax': <uint64 10>}"
    # The daemon goes on answering, and nothing was kept.
    assert_contains "$(bus_call ListMachines)" '"lim1"'
    assert_eq "$(machine_prop lim1 Limits)" "a{sv} 0"
    assert_not_contains "$(cat /etc/systemd/nspawn/lim1.nspawn 2> /dev/null)" "Limits"
    # The client's usage errors (exit status 2) come before any call.
    assert_eq "$(client_status limit lim1)" 2
    assert_eq "$(client_status limit lim1 --memory=2X)" 2
    assert_eq "$(client_status limit lim1 --cpu-weight=0x10)" 2
}

test_kept_while_stopped() {
    bredmachine limit lim1 --memory=256M --cpu=50%
    assert_eq "$(machine_prop lim1 Limits)" 'a{sv} 2 "CPUQuota" u 50 "MemoryMax" t 268435456'
    assert_contains "$(cat /etc/systemd/nspawn/lim1.nspawn)" $'[X-BredMachined-Limits]\nMemoryMax=268435456\nCPUQuota=50'
    # machinectl's unit gets them through the daemon's drop-in.
    assert_contains "$(cat /etc/systemd/system/systemd-nspawn@lim1.service.d/50-bred-machined.conf)" \
        $'MemoryMax=268435456\nMemoryHigh=infinity\nCPUQuota=50%'
}

test_start_applies_them() {
    bredmachine start lim1 > /dev/null 2>&1
    container_running lim1
    assert_eq "$(unit_value bred-machine-lim1.service MemoryMax)" 268435456
    assert_eq "$(unit_value bred-machine-lim1.service CPUQuotaPerSecUSec)" 500ms
    assert_eq "$(unit_value bred-machine-lim1.service TasksMax)" 16384
}

test_running_container_changes_at_once() {
    local monitor_log monitor_pid
    monitor_log=$(mktemp /tmp/bred-monitor.XXXXXX)
    gdbus monitor --system --dest "$BRED_BUS_NAME" --object-path "$(machine_path lim1)" > "$monitor_log" 2>&1 &
    monitor_pid=$!
    sleep 1
    gcall SetLimits lim1 "{'MemoryMax': <uint64 536870912>, 'TasksMax': <uint64 500>, 'CPUWeight': <uint64 300>}"
    assert_eq "$(unit_value bred-machine-lim1.service MemoryMax)" 536870912
    assert_eq "$(unit_value bred-machine-lim1.service TasksMax)" 500
    assert_eq "$(unit_value bred-machine-lim1.service CPUWeight)" 300
    # Not given: as it was.
    assert_eq "$(unit_value bred-machine-lim1.service CPUQuotaPerSecUSec)" 500ms
    assert_eq "$(machine_prop lim1 Limits)" \
        'a{sv} 4 "CPUQuota" u 50 "CPUWeight" t 300 "MemoryMax" t 536870912 "TasksMax" t 500'
    wait_for 5 grep -q "'Limits'" "$monitor_log"
    kill "$monitor_pid"
    wait "$monitor_pid" 2> /dev/null || true
    rm -f "$monitor_log"
    # status: the limits next to the use.
    local status
    status=$(bredmachine status lim1)
    assert_contains "$status" "max 512.0 MiB"
    assert_contains "$status" "s used (quota 50%, weight 300)"
    assert_contains "$status" "max 500"
    status=$(bredmachine status lim1 --json=short)
    assert_contains "$status" '"Limits":{"CPUQuota":50,"CPUWeight":300,"MemoryMax":536870912,"TasksMax":500}'
    # What the unit uses; the memory and task counters only where the test bed's cgroups account them.
    [[ $status =~ \"Usage\":\{.*\"CPUUsageNSec\":[0-9]+ ]] || fail "no CPUUsageNSec in $status"
}

test_kept_after_stop_and_start() {
    bredmachine stop lim1 > /dev/null 2>&1
    wait_state lim1 stopped 60
    bredmachine start lim1 > /dev/null 2>&1
    container_running lim1
    assert_eq "$(unit_value bred-machine-lim1.service MemoryMax)" 536870912
    assert_eq "$(unit_value bred-machine-lim1.service TasksMax)" 500
    assert_eq "$(unit_value bred-machine-lim1.service CPUWeight)" 300
    assert_eq "$(unit_value bred-machine-lim1.service CPUQuotaPerSecUSec)" 500ms
}

test_cleared_with_none_and_zero() {
    bredmachine limit lim1 --memory=none --cpu=none --tasks none
    gcall SetLimits lim1 "{'CPUWeight': <uint64 0>}"
    assert_eq "$(unit_value bred-machine-lim1.service MemoryMax)" infinity
    assert_eq "$(unit_value bred-machine-lim1.service CPUQuotaPerSecUSec)" infinity
    assert_eq "$(unit_value bred-machine-lim1.service TasksMax)" 16384
    assert_ne "$(unit_value bred-machine-lim1.service CPUWeight)" 300
    assert_eq "$(machine_prop lim1 Limits)" "a{sv} 0"
    assert_not_contains "$(cat /etc/systemd/nspawn/lim1.nspawn)" "X-BredMachined-Limits"
    assert_contains "$(cat /etc/systemd/system/systemd-nspawn@lim1.service.d/50-bred-machined.conf)" \
        $'MemoryMax=infinity\nMemoryHigh=infinity\nCPUQuota=\nCPUWeight=\nIOWeight='
    bredmachine stop lim1 > /dev/null 2>&1
    wait_state lim1 stopped 60
}

test_machinectl_start_gets_them() {
    bredmachine limit lim1 --memory=300M
    machinectl start lim1
    wait_state lim1 running 60
    assert_eq "$(unit_value systemd-nspawn@lim1.service MemoryMax)" 314572800
    # ...and a change while it runs goes to its unit.
    bredmachine limit lim1 --memory-high=200M
    assert_eq "$(unit_value systemd-nspawn@lim1.service MemoryHigh)" 209715200
    assert_eq "$(unit_value systemd-nspawn@lim1.service MemoryMax)" 314572800
    bredmachine stop lim1 > /dev/null 2>&1
    wait_state lim1 stopped 60
    # Unset while stopped: the drop-in outweighs what SetUnitProperties left in /run for the unit.
    bredmachine limit lim1 --memory-high=none
    machinectl start lim1
    wait_state lim1 running 60
    assert_eq "$(unit_value systemd-nspawn@lim1.service MemoryHigh)" infinity
    bredmachine limit lim1 --memory-high=200M
    bredmachine stop lim1 > /dev/null 2>&1
    wait_state lim1 stopped 60
}

test_survive_a_daemon_restart() {
    systemctl restart bred-machined.service
    wait_for 30 bash -c "busctl --system get-property $BRED_BUS_NAME $(machine_path lim1) org.bredos.machine1.Machine Limits"
    assert_eq "$(machine_prop lim1 Limits)" 'a{sv} 2 "MemoryHigh" t 209715200 "MemoryMax" t 314572800'
}

# run_unit MACHINE: the unit of a command running in the stopped MACHINE.
run_unit() { systemctl list-units --no-legend --plain "bred-run-$1-*" | awk '{ print $1; exit }'; }
has_run_unit() { [[ -n $(run_unit "$1") ]]; }

test_commands_of_a_stopped_machine_get_them() {
    # Run, and so AddUser and Convert, boot a stopped machine for the command: under its limits too.
    bredmachine run lim1 -- sleep 4 > /dev/null 2>&1 &
    local client=$! unit
    wait_for 20 has_run_unit lim1
    unit=$(run_unit lim1)
    assert_eq "$(unit_value "$unit" MemoryMax)" 314572800
    assert_eq "$(unit_value "$unit" MemoryHigh)" 209715200
    wait "$client"
}

test_follow_rename_and_go_with_remove() {
    bus_call Rename ss lim1 lim1b
    wait_for 10 bash -c "bredmachine list | grep -q '^lim1b '"
    assert_eq "$(machine_prop lim1b Limits)" 'a{sv} 2 "MemoryHigh" t 209715200 "MemoryMax" t 314572800'
    assert_contains "$(cat /etc/systemd/system/systemd-nspawn@lim1b.service.d/50-bred-machined.conf)" MemoryMax=314572800
    [[ ! -e /etc/systemd/system/systemd-nspawn@lim1.service.d ]] || fail "the old name's drop-in is left"
    bredmachine remove lim1b > /dev/null 2>&1
    wait_for 30 machine_unlisted lim1b
    [[ ! -e /etc/systemd/nspawn/lim1b.nspawn ]] || fail "the settings are left"
    [[ ! -e /etc/systemd/system/systemd-nspawn@lim1b.service.d ]] || fail "the drop-in is left"
}

run_setup setup teardown
run_test "SetLimits refuses bad keys, types and values, templates and strangers" test_refusals
run_test "limits of a stopped container are kept in its settings and machinectl's drop-in" test_kept_while_stopped
run_test "start gives the unit the limits" test_start_applies_them
run_test "a running container's unit changes at once, and Limits is signalled" test_running_container_changes_at_once
run_test "the limits hold after a stop and start" test_kept_after_stop_and_start
run_test "none and 0 clear limits" test_cleared_with_none_and_zero
run_test "machinectl start gets the limits, and changes while it runs" test_machinectl_start_gets_them
run_test "the limits survive a daemon restart" test_survive_a_daemon_restart
run_test "a command in the stopped machine runs under them" test_commands_of_a_stopped_machine_get_them
run_test "the limits follow Rename and go with Remove" test_follow_rename_and_go_with_remove
run_teardown teardown
