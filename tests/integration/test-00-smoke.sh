#!/usr/bin/env bash
# Smoke test: the whole stack is there. System bus, polkit, bus activation of
# bred-machined, its Manager object, the unit, the client.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test_system_bus() {
    local names
    names=$(busctl --system list --no-pager)
    assert_contains "$names" org.freedesktop.DBus
    assert_eq "$(systemctl is-active dbus.service)" active
}

test_polkit() {
    # Activate polkit with a harmless call, then look at it.
    busctl --system call org.freedesktop.PolicyKit1 \
        /org/freedesktop/PolicyKit1/Authority org.freedesktop.DBus.Peer Ping
    local status
    status=$(busctl --system status org.freedesktop.PolicyKit1 --no-pager)
    assert_contains "$status" polkitd
    pgrep -x polkitd >/dev/null
}

test_installed_files() {
    local f
    for f in /usr/libexec/bred-machined /usr/bin/bredmachine; do
        [[ -x $f ]] || { echo "missing: $f"; return 1; }
    done
    for f in /usr/lib/systemd/system/bred-machined.service \
             /usr/share/dbus-1/system.d/org.bredos.machine1.conf \
             /usr/share/dbus-1/system-services/org.bredos.machine1.service \
             /usr/share/polkit-1/actions/org.bredos.machine1.policy \
             /usr/share/polkit-1/rules.d/50-bred-machined.rules; do
        [[ -f $f ]] || { echo "missing: $f"; return 1; }
    done
}

test_activation() {
    local out
    # Introspecting the manager bus-activates the daemon.
    out=$(busctl --system introspect --no-pager "$BRED_BUS_NAME" "$BRED_BUS_PATH")
    assert_contains "$out" "$BRED_MANAGER_IFACE"
    assert_contains "$out" .ListMachines
    assert_contains "$out" org.freedesktop.DBus.ObjectManager
    wait_for 10 systemctl is-active --quiet bred-machined.service
    assert_eq "$(systemctl is-active bred-machined.service)" active
    out=$(busctl --system status "$BRED_BUS_NAME" --no-pager)
    assert_contains "$out" bred-machined
}

test_unprivileged_read() {
    # Read-only calls need no authorization, not even for bob.
    local out
    out=$(bus_call_as bob ListMachines)
    assert_contains "$out" 'a(ssso)'
    out=$(bus_call ListMachines)
    assert_contains "$out" 'a(ssso)'
}

test_client_version() {
    local out
    out=$(bredmachine --version)
    [[ -n $out ]] || { echo "bredmachine --version printed nothing"; return 1; }
    out=$(as_user bob bredmachine --version)
    [[ -n $out ]]
}

run_test "the system bus is up" test_system_bus
run_test "polkitd is activated and running" test_polkit
run_test "bred-machined is installed" test_installed_files
run_test "introspection bus-activates bred-machined" test_activation
run_test "anyone may list machines" test_unprivileged_read
run_test "bredmachine --version works" test_client_version
