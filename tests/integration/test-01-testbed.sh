#!/usr/bin/env bash
# The testbed itself gives what the rest of the suite relies on, whatever its
# Debian (bookworm's systemd 252 or trixie's 257): DevicePolicy= enforced,
# nested containers booted from the testbed's own rootfs and registered with
# machined, polkit answering and deciding for users by our rules. When one of
# these breaks, the tests that build on it fail for reasons far from here.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test_device_policy_enforced() {
    [[ -c /dev/loop-control ]] || fail "no /dev/loop-control in the testbed (run-testbed binds the host's)"
    # Open without a policy first, so that the refusal below is the policy's.
    assert_ok systemd-run --wait --pipe --quiet --property=DevicePolicy=auto \
        bash -c 'exec 3<>/dev/loop-control'
    assert_fails_with "Operation not permitted" \
        systemd-run --wait --pipe --quiet --property=DevicePolicy=closed \
        bash -c 'exec 3<>/dev/loop-control'
}

nested=bred-probe-nested

# machine_class NAME: machined answered with NAME's class.
machine_class() { machinectl show "$1" --property=Class --value; }

# machine_gone NAME: machined answered its list, without NAME.
machine_gone() {
    local machines
    machines=$(machinectl list --no-legend --no-pager) || return 1
    [[ $machines != *"$1 "* ]]
}

nested_boot() {
    make_bootable_tree "$nested" > /dev/null
    systemd-run --unit="$nested" --property=KillMode=mixed \
        systemd-nspawn --quiet --boot --link-journal=no --machine="$nested" \
        --directory="$BRED_MACHINES_DIR/$nested"
    wait_for 60 machine_class "$nested"
    assert_eq "$(machine_class "$nested")" container
    container_running "$nested"
    machinectl poweroff "$nested"
    wait_for 60 machine_gone "$nested"
}

test_nested_boot_registers() {
    remove_machine_dirs "$nested"
    local status
    capture_status status nested_boot
    systemctl stop "$nested.service" 2> /dev/null || true
    systemctl reset-failed "$nested.service" 2> /dev/null || true
    remove_machine_dirs "$nested"
    return "$status"
}

test_polkit_answers() {
    local backend
    backend=$(busctl --system get-property org.freedesktop.PolicyKit1 \
        /org/freedesktop/PolicyKit1/Authority org.freedesktop.PolicyKit1.Authority BackendName)
    assert_contains "$backend" js
}

# pkcheck_as USER: whether polkit lets a process of USER manage machines.
pkcheck_as() {
    local unit=bred-probe-pkcheck-$1 pid
    systemd-run --quiet --unit="$unit" --uid="$1" sleep 120
    pid=$(systemctl show --property=MainPID --value "$unit.service")
    local status
    capture_status status pkcheck --action-id org.bredos.machine1.manage --process "$pid"
    systemctl stop "$unit.service"
    return "$status"
}

test_pkcheck_for_users() {
    # alice is in the group bredmachine, to which our rules say yes.
    local status
    capture_status status pkcheck_as alice
    assert_eq "$status" 0 "pkcheck for alice"
    # bob is not: polkit wants an administrator, and no agent is there to ask
    # (pkcheck's "not authorized", status 1; 2 and above are its own errors).
    capture_status status pkcheck_as bob
    assert_eq "$status" 1 "pkcheck for bob"
}

run_test "DevicePolicy=closed refuses /dev/loop-control" test_device_policy_enforced
run_test "a nested systemd-nspawn --boot registers with machined" test_nested_boot_registers
run_test "polkitd answers" test_polkit_answers
run_test "pkcheck decides for alice and bob by our rules" test_pkcheck_for_users
