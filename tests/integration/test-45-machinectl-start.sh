#!/usr/bin/env bash
# machinectl start and bredmachine start give the same container: the same
# user namespace (none), the same network, the same binds, the same device
# policy. machinectl runs systemd-nspawn@.service (-U --network-veth
# --settings=override); the .nspawn file the daemon writes states what makes
# it start the container as ours does, and a drop-in confines that unit as
# ours. Containers made before that are given both when the daemon starts.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

share=/srv/mc-share
dropin_of() { echo "/etc/systemd/system/systemd-nspawn@$1.service.d/50-bred-machined.conf"; }
state_of() { machine_prop "$1" State; }
stopped() { [[ $(state_of "$1") == 's "stopped"' ]]; }
# unit_gone UNIT: systemd answered, and the unit is not active any more.
unit_gone() {
    local state
    state=$(systemctl show -P ActiveState "$1") || return 1
    [[ $state == inactive || $state == failed ]]
}

setup() {
    remove_machine_dirs mcsrc mc1 mc2 mc3 mctmpl
    rm -f /etc/systemd/nspawn/mc-foreign.nspawn
    mkdir -p "$share"
    echo from-host > "$share/hello"
    make_bootable_tree mcsrc > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^mcsrc '"
}

teardown() {
    local name
    for name in mc1 mc2; do
        machinectl terminate "$name" 2> /dev/null || true
    done
    chattr -f -i "$BRED_MACHINES_DIR/mctmpl" 2> /dev/null || true
    remove_machine_dirs mcsrc mc1 mc2 mc3 mctmpl
    rm -f /etc/systemd/nspawn/mc-foreign.nspawn
    rm -rf "$share"
    systemctl daemon-reload
}

# start_with HOW NAME: start NAME with `machinectl start` or `bredmachine start`
# and wait until its own systemd is up.
start_with() {
    case $1 in
        machinectl) machinectl start "$2" ;;
        bredmachine) bredmachine start "$2" > /dev/null 2>&1 ;;
    esac
    container_running "$2"
}

# stop_with HOW NAME: stop it the same way, and wait until it is down.
stop_with() {
    case $1 in
        machinectl) machinectl stop "$2" ;;
        bredmachine) bredmachine stop "$2" > /dev/null 2>&1 ;;
    esac
    wait_for 60 stopped "$2"
}

# inside NAME CMD...: CMD run by the container's own systemd, with its
# credentials and namespaces, whoever started it.
inside() {
    local name=$1
    shift
    systemd-run -M "$name" --wait --pipe -q -- "$@"
}

# describe_running HOW NAME: what the container got, as text to compare: its
# user namespace, its network links, its binds as mounted inside, who owns a
# file it writes through a bind, and the devices its unit allows.
describe_running() {
    local how=$1 name=$2 leader unit uid_map links binds hello owner devices policy
    leader=$(machinectl show -p Leader --value "$name")
    [[ -n $leader ]]
    unit=$(machinectl show -p Unit --value "$name")
    case $how in
        machinectl) assert_eq "$unit" "systemd-nspawn@$name.service" ;;
        bredmachine) assert_eq "$unit" "bred-machine-$name.service" ;;
    esac
    uid_map=$(awk '{print $1, $2, $3}' "/proc/$leader/uid_map")
    links=$(inside "$name" ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' ')
    binds=$(inside "$name" findmnt -n -r -o TARGET,VFS-OPTIONS /mnt/share)
    hello=$(inside "$name" cat /mnt/share/hello)
    inside "$name" sh -c "echo x > /mnt/share/written-by-$how"
    owner=$(stat -c %u:%g "$share/written-by-$how")
    devices=$(systemctl show -P DeviceAllow "$unit" | tr '\n' ' ')
    policy=$(systemctl show -P DevicePolicy "$unit")
    printf '%s\n' "uid_map: $uid_map" "links: $links" "binds: $binds" "hello: $hello" \
        "owner on the host: $owner" "devices: $devices" "device policy: $policy"
}

# same_under_both NAME: start NAME both ways; both give the same container,
# and the one ours gives: no user namespace, the host's network, the bind.
same_under_both() {
    local name=$1 by_machinectl by_bredmachine
    start_with machinectl "$name"
    by_machinectl=$(describe_running machinectl "$name")
    stop_with machinectl "$name"
    wait_for 30 unit_gone "systemd-nspawn@$name.service"
    start_with bredmachine "$name"
    by_bredmachine=$(describe_running bredmachine "$name")
    stop_with bredmachine "$name"
    echo "$by_bredmachine"
    assert_eq "$by_machinectl" "$by_bredmachine" "machinectl start and bredmachine start differ"
    assert_contains "$by_bredmachine" "uid_map: 0 0 4294967295"
    assert_not_contains "$by_bredmachine" "host0"
    assert_contains "$by_bredmachine" "binds: /mnt/share rw"
    assert_contains "$by_bredmachine" "hello: from-host"
    assert_contains "$by_bredmachine" "owner on the host: 0:0"
    assert_not_contains "$by_bredmachine" "block-loop"
    assert_not_contains "$by_bredmachine" "device-mapper"
    assert_contains "$by_bredmachine" "device policy: closed"
}

test_a_new_container_starts_the_same_both_ways() {
    bredmachine clone mcsrc mc1 > /dev/null 2>&1
    local settings=/etc/systemd/nspawn/mc1.nspawn
    assert_contains "$(cat "$settings")" "PrivateUsers=no"
    assert_contains "$(cat "$settings")" "VirtualEthernet=no"
    [[ -f $(dropin_of mc1) ]]
    bredmachine bind mc1 "$share:/mnt/share"
    assert_contains "$(cat "$settings")" "Bind=$share:/mnt/share"
    assert_contains "$(cat "$settings")" "PrivateUsers=no"
    same_under_both mc1
}

test_a_veth_container_gets_host0_both_ways() {
    bredmachine network mc1 --veth --address 10.245.0.2/24
    assert_contains "$(cat /etc/systemd/nspawn/mc1.nspawn)" "VirtualEthernet=yes"
    local leader links_machinectl links_bredmachine
    start_with machinectl mc1
    leader=$(machinectl show -p Leader --value mc1)
    links_machinectl=$(inside mc1 ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort)
    assert_eq "$(awk '{print $1, $2, $3}' "/proc/$leader/uid_map")" "0 0 4294967295"
    stop_with machinectl mc1
    wait_for 30 unit_gone systemd-nspawn@mc1.service
    start_with bredmachine mc1
    links_bredmachine=$(inside mc1 ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort)
    stop_with bredmachine mc1
    assert_eq "$links_machinectl" "$links_bredmachine"
    assert_eq "$links_bredmachine" "$(printf 'host0\nlo')"
    bredmachine network mc1 --host
    assert_contains "$(cat /etc/systemd/nspawn/mc1.nspawn)" "VirtualEthernet=no"
}

# As the daemon before this change left a container with a bind: a .nspawn
# file with the bind only, and no drop-in.
write_old_style() {
    make_bootable_tree mc2 > /dev/null
    printf '[Files]\nBind=%s:/mnt/share\n' "$share" > /etc/systemd/nspawn/mc2.nspawn
    # Files the daemon does not own: settings of no machine, and a template's (none).
    printf '# mine\n[Network]\nVirtualEthernet=yes\n' > /etc/systemd/nspawn/mc-foreign.nspawn
    cp /etc/systemd/nspawn/mc-foreign.nspawn /tmp/mc-foreign.before
    make_fake_os_tree mctmpl > /dev/null
    chattr +i "$BRED_MACHINES_DIR/mctmpl"
}

test_an_old_container_is_migrated_and_starts_the_same_both_ways() {
    write_old_style
    local before_pid settings=/etc/systemd/nspawn/mc2.nspawn
    before_pid=$(systemctl show -P MainPID bred-machined.service)
    systemctl restart bred-machined.service
    wait_for 10 bus_call ListMachines
    [[ $(systemctl show -P MainPID bred-machined.service) != "$before_pid" ]]
    assert_contains "$(journalctl -b -u bred-machined.service --since=-60s -o cat)" \
        "stated the start settings of 'mc2'"
    assert_eq "$(head -n 2 "$settings")" "$(printf '[Files]\nBind=%s:/mnt/share' "$share")"
    assert_contains "$(cat "$settings")" "PrivateUsers=no"
    assert_contains "$(cat "$settings")" "VirtualEthernet=no"
    assert_contains "$(cat "$settings")" "NotifyReady=yes"
    [[ -f $(dropin_of mc2) ]]
    assert_ok cmp /tmp/mc-foreign.before /etc/systemd/nspawn/mc-foreign.nspawn
    [[ ! -e /etc/systemd/nspawn/mctmpl.nspawn && ! -e $(dropin_of mctmpl) ]]
    [[ ! -e $(dropin_of mc-foreign) ]]
    # Once only: a second start changes nothing.
    cp "$settings" /tmp/mc2.after-first
    systemctl restart bred-machined.service
    wait_for 10 bus_call ListMachines
    assert_ok cmp /tmp/mc2.after-first "$settings"
    same_under_both mc2
    chattr -i "$BRED_MACHINES_DIR/mctmpl"
}

test_the_dropin_goes_with_rename_and_remove() {
    bredmachine rename mc2 mc3 > /dev/null 2>&1
    [[ ! -e $(dropin_of mc2) && -f $(dropin_of mc3) ]]
    assert_contains "$(cat /etc/systemd/nspawn/mc3.nspawn)" "PrivateUsers=no"
    assert_not_contains "$(systemctl show -P DeviceAllow systemd-nspawn@mc3.service)" block-loop
    bredmachine remove mc3 > /dev/null 2>&1
    [[ ! -e /etc/systemd/system/systemd-nspawn@mc3.service.d ]]
    [[ ! -e /etc/systemd/nspawn/mc3.nspawn ]]
    bus_call ListMachines > /dev/null
}

run_setup setup teardown
run_test "a new container starts the same with machinectl and bredmachine" test_a_new_container_starts_the_same_both_ways
run_test "a veth container gets host0 both ways" test_a_veth_container_gets_host0_both_ways
run_test "an old container is migrated once and starts the same both ways" \
    test_an_old_container_is_migrated_and_starts_the_same_both_ways
run_test "machinectl's drop-in goes with rename and remove" test_the_dropin_goes_with_rename_and_remove
run_teardown teardown
