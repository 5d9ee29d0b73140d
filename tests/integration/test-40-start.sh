#!/usr/bin/env bash
# Start and Stop for real: nested containers booting a real systemd tree as
# transient units started through systemd's D-Bus API, seen by machined and
# machinectl, with a State that follows them however they stop.
# shellcheck source=lib.sh
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

teardown() {
    remove_machine_dirs boot1
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
    container_running boot1
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

leader_of() { machinectl show "$1" --property=Leader --value; }
# new_leader NAME PID: NAME runs again, with a leader other than PID.
new_leader() {
    local now
    now=$(leader_of "$1" 2> /dev/null) || return 1
    [[ -n $now && $now != "$2" ]]
}

test_reboot_inside_comes_back() {
    local before
    before=$(leader_of boot1)
    [[ -n $before ]]
    machinectl reboot boot1
    # Evidence of a reboot: a new leader, not only the state "running" that
    # held before it too.
    wait_for 60 new_leader boot1 "$before"
    wait_state boot1 running 60
    container_running boot1
}

test_stop_powers_off() {
    bredmachine stop boot1 > /dev/null 2>&1
    assert_eq "$(state_of boot1)" 's "stopped"'
    assert_not_contains "$(machinectl list --no-legend)" boot1
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

leader_of() { machinectl show -p Leader --value "$1"; }
in_container() { local name=$1; shift; nsenter -t "$(leader_of "$name")" -m -u -i -n -p -- "$@"; }

test_binds() {
    mkdir -p /srv/share /srv/ro /srv/live
    echo from-host > /srv/share/hello
    echo read-only > /srv/ro/file
    bredmachine bind boot1 /srv/share:/mnt/share
    assert_contains "$(cat /etc/systemd/nspawn/boot1.nspawn)" "Bind=/srv/share:/mnt/share"
    assert_contains "$(machine_prop boot1 Binds)" '"/srv/share" "/mnt/share" false'
    bredmachine bind boot1 /srv/ro:/mnt/ro --read-only
    local out
    out=$(bredmachine start boot1 2>&1) || { echo "$out"; cat /etc/systemd/nspawn/boot1.nspawn; return 1; }
    assert_eq "$(in_container boot1 cat /mnt/share/hello)" from-host
    assert_eq "$(in_container boot1 cat /mnt/ro/file)" read-only
    assert_fails in_container boot1 touch /mnt/ro/new
    [[ ! -e /srv/ro/new ]]
    # Added while running: there at once, without a restart.
    echo live > /srv/live/now
    bredmachine bind boot1 /srv/live:/mnt/live
    assert_eq "$(in_container boot1 cat /mnt/live/now)" live
    # A person's own keys survive our edits.
    printf '# mine\n[Exec]\nEnvironment=FOO=bar\n' >> /etc/systemd/nspawn/boot1.nspawn
    bredmachine unbind boot1 /mnt/live
    assert_contains "$(cat /etc/systemd/nspawn/boot1.nspawn)" "Environment=FOO=bar"
    assert_not_contains "$(cat /etc/systemd/nspawn/boot1.nspawn)" "/mnt/live"
    bredmachine stop boot1 > /dev/null 2>&1
    bredmachine unbind boot1 /mnt/share
    bredmachine unbind boot1 /mnt/ro
}

test_hostile_binds() {
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Bind boot1 srv/share /mnt '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Bind boot1 /srv/../etc /mnt '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Bind boot1 /srv/share /mnt/../../x '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Bind boot1 /nonexistent/dir /mnt '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Unbind boot1 /not/bound
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password bind boot1 /srv/share
    assert_not_contains "$(cat /etc/systemd/nspawn/boot1.nspawn 2> /dev/null)" "../"
}

test_network_writes_stay_in_the_tree() {
    remove_machine_dirs netx
    local dir
    dir=$(make_fake_os_tree netx)
    mkdir -p "$dir/etc/systemd"
    # A container whose /etc/systemd/network points at a host path.
    ln -s /etc/bred-host-network-target "$dir/etc/systemd/network"
    wait_for 10 bash -c "bredmachine list | grep -q '^netx '"
    bredmachine network netx --veth --address 10.77.0.2/24 --gateway 10.77.0.1 --dns 10.77.0.1
    [[ ! -e /etc/bred-host-network-target ]] || { echo "wrote on the host"; return 1; }
    assert_contains "$(cat "$dir/etc/bred-host-network-target/80-bred-host0.network")" "Address=10.77.0.2/24"
    assert_contains "$(machine_prop netx Network)" '"address" s "10.77.0.2/24"'
    assert_contains "$(cat /etc/systemd/nspawn/netx.nspawn)" "VirtualEthernet=yes"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetNetwork netx "{'mode': <'veth'>, 'address': <'10.1.2.3'>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetNetwork netx "{'mode': <'bridge'>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall SetNetwork netx "{'mode': <'host'>, 'address': <'10.1.2.3/24'>}"
    remove_machine_dirs netx
}

test_veth_network() {
    bredmachine network boot1 --veth --address 10.231.0.2/24
    [[ -L $BRED_MACHINES_DIR/boot1/etc/systemd/system/multi-user.target.wants/systemd-networkd.service ]]
    bredmachine start boot1 > /dev/null 2>&1
    wait_for 10 ip link show ve-boot1
    ip addr add 10.231.0.1/24 dev ve-boot1
    ip link set ve-boot1 up
    wait_for 30 ping -c 1 -W 1 10.231.0.2 > /dev/null
    # status shows the address machined reads from inside the container.
    assert_contains "$(bredmachine status boot1)" "10.231.0.2"
    bredmachine stop boot1 > /dev/null 2>&1
    bredmachine network boot1 --host
    # Said, not left out: machinectl's unit would otherwise add --network-veth.
    assert_contains "$(cat /etc/systemd/nspawn/boot1.nspawn)" "VirtualEthernet=no"
    assert_not_contains "$(cat /etc/systemd/nspawn/boot1.nspawn)" "VirtualEthernet=yes"
}

run_setup setup teardown
run_test "start boots a ready container as a transient unit" test_start_runs_a_ready_container
run_test "start refuses running containers and templates" test_start_errors
run_test "a reboot inside the container comes back" test_reboot_inside_comes_back
run_test "stop powers the container off; strangers cannot start it" test_stop_powers_off
run_test "a poweroff inside stays off" test_poweroff_inside_stays_off
run_test "a container started elsewhere is seen and stopped" test_started_elsewhere_is_seen
run_test "stop --force terminates" test_force_stop
run_test "binds: saved, applied at start and live, read-only honoured" test_binds
run_test "hostile binds are refused" test_hostile_binds
run_test "network files are written inside the tree only" test_network_writes_stay_in_the_tree
run_test "veth: the container's host0 gets its address and answers" test_veth_network
run_teardown teardown
