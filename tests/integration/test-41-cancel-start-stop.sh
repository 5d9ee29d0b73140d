#!/usr/bin/env bash
# Start and Stop are systemd's jobs, followed on the daemon's loop: a Start
# can be canceled (its unit is stopped), a Stop cannot once systemd has it
# (a clear error, and the machine still stops), and a unit that fails ends
# its Start with an error that says so.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORK=
MONITOR=
job_of() { sed -nE 's/^uo ([0-9]+) .*/\1/p'; }
state_of() { machine_prop "$1" State; }
state_is() { [[ $(machine_prop "$1" State) == "s \"$2\"" ]]; }
job_state() { busctl --system get-property "$BRED_BUS_NAME" "/org/bredos/machine1/job/$1" org.bredos.machine1.Job State; }

setup() {
    WORK=$(mktemp -d /tmp/bred-test-41.XXXXXX)
    remove_machine_dirs k41boot k41fake
    make_bootable_tree k41boot > /dev/null
    make_fake_os_tree k41fake > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^k41boot ' && bredmachine list | grep -q '^k41fake '"
}

teardown() {
    systemctl stop bred-machine-k41boot.service bred-machine-k41fake.service 2> /dev/null || true
    remove_machine_dirs k41boot k41fake
    rm -rf "$WORK"
}

# watch_job_removed FILE: records the daemon's JobRemoved signals in FILE until the test ends.
watch_job_removed() {
    busctl --system monitor --match "type='signal',sender='$BRED_BUS_NAME',member='JobRemoved'" > "$1" 2>&1 &
    MONITOR=$!
    # The match is in place once busctl is connected.
    sleep 1
}

test_cancel_during_start() {
    watch_job_removed "$WORK/removed"
    local out id
    out=$(bus_call Start 'sa{sv}' k41boot 0)
    id=$(job_of <<< "$out")
    [[ -n $id ]] || { echo "no job: $out"; return 1; }
    assert_eq "$(job_state "$id")" 's "running"'
    bredmachine cancel "$id"
    wait_for 60 job_gone "$id"
    wait_for 10 grep -q '"canceled"' "$WORK/removed"
    assert_contains "$(cat "$WORK/removed")" "/org/bredos/machine1/job/$id"
    # The unit is stopped, not left booting.
    wait_for 30 bash -c "! systemctl is-active -q bred-machine-k41boot.service"
    wait_for 10 state_is k41boot stopped
    assert_not_contains "$(machinectl list --no-legend)" k41boot
    assert_ok bus_call ListMachines
    kill "$MONITOR"
}

test_cancel_on_stop_is_refused() {
    bredmachine start k41boot > /dev/null 2>&1
    assert_eq "$(state_of k41boot)" 's "running"'
    local out id
    out=$(bus_call Stop 'sa{sv}' k41boot 0)
    id=$(job_of <<< "$out")
    [[ -n $id ]] || { echo "no job: $out"; return 1; }
    # gdbus, unlike busctl, prints the error's name.
    assert_fails_with org.bredos.machine1.Error.NotSupported gdbus call --system --dest "$BRED_BUS_NAME" \
        --object-path "/org/bredos/machine1/job/$id" --method org.bredos.machine1.Job.Cancel
    assert_contains "$last_stderr" "can no longer be canceled"
    wait_for 60 job_gone "$id"
    wait_for 10 state_is k41boot stopped
    assert_not_contains "$(machinectl list --no-legend)" k41boot
    assert_ok bus_call ListMachines
}

test_failing_unit_fails_the_start() {
    # An os-release and nothing to boot: nspawn starts, and its payload cannot.
    local out rc=0
    out=$(bredmachine start k41fake 2>&1) || rc=$?
    ((rc != 0)) || { echo "start succeeded: $out"; return 1; }
    assert_contains "$out" "bred-machine-k41fake.service ended with"
    assert_ne "$(state_of k41fake)" 's "running"'
    assert_ok bus_call ListMachines
}

run_setup setup teardown
run_test "a canceled Start stops the unit and ends canceled" test_cancel_during_start
run_test "a Stop cannot be canceled, and the machine stops" test_cancel_on_stop_is_refused
run_test "a Start whose unit fails ends with an error" test_failing_unit_fails_the_start
run_teardown teardown
