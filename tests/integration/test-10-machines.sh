#!/usr/bin/env bash
# The foundation end to end: discovery, properties, names, Remove/Rename as
# jobs, polkit with real users, signals, the client. Runs in the booted testbed
# against the real daemon, bus, polkitd and systemd-machined.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

gcall_as() {
    local user=$1
    shift
    as_user "$user" gdbus call --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" \
        --method "$BRED_MANAGER_IFACE.$1" -- "${@:2}"
}
# Wait until the daemon lists (or no longer lists) a machine.
wait_listed() { wait_for 10 bash -c "busctl --system call $BRED_BUS_NAME $BRED_BUS_PATH $BRED_MANAGER_IFACE ListMachines | grep -q '\"$1\"'"; }
wait_unlisted() { wait_for 10 machine_unlisted "$1"; }

# A tree that looks like a real OS to the daemon: os-release and an x86-64 shell.
make_tree() {
    local dir
    dir=$(make_fake_os_tree "$1" "${2:-fakeos}")
    mkdir -p "$dir/usr/bin" "$dir/var/lib/data"
    cp /bin/dash "$dir/usr/bin/dash"
    ln -sfn dash "$dir/usr/bin/sh"
    echo data > "$dir/var/lib/data/file"
    echo "$dir"
}

# Starts `gdbus monitor` on the daemon in the background; stop_monitor prints what it saw.
start_monitor() {
    monitor_log=$(mktemp /tmp/bred-monitor.XXXXXX)
    gdbus monitor --system --dest "$BRED_BUS_NAME" > "$monitor_log" 2>&1 &
    monitor_pid=$!
    sleep 1
}
stop_monitor() {
    sleep 0.5
    kill "$monitor_pid" 2>/dev/null || true
    wait "$monitor_pid" 2>/dev/null || true
    cat "$monitor_log"
    rm -f "$monitor_log"
}

test_discovery_and_properties() {
    remove_machine_dirs disc1
    make_tree disc1 debian > /dev/null
    wait_listed disc1
    assert_contains "$(bus_call ListMachines)" '"disc1" "container" "stopped"'
    assert_eq "$(machine_prop disc1 Name)" 's "disc1"'
    assert_eq "$(machine_prop disc1 Class)" 's "container"'
    assert_eq "$(machine_prop disc1 State)" 's "stopped"'
    assert_eq "$(machine_prop disc1 Directory)" "s \"$BRED_MACHINES_DIR/disc1\""
    assert_eq "$(machine_prop disc1 ReadOnly)" 'b false'
    assert_eq "$(machine_prop disc1 Architecture)" 's "x86-64"'
    assert_eq "$(machine_prop disc1 Unit)" 's ""'
    assert_contains "$(machine_prop disc1 OSRelease)" '"ID" "debian"'
    assert_contains "$(machine_prop disc1 Network)" '"mode" s "host"'
    local created
    created=$(machine_prop disc1 CreationTimestamp)
    [[ $created =~ ^t\ [0-9]+$ ]]
    # Unknown (UINT64_MAX) until measured in the background: a number either way.
    [[ $(machine_prop disc1 DiskUsage) =~ ^t\ [0-9]+$ ]]
    assert_eq "$(bus_call GetMachine s disc1)" "o \"$(machine_path disc1)\""
    remove_machine_dirs disc1
    wait_unlisted disc1
}

test_not_os_trees_are_ignored() {
    remove_machine_dirs plain .hidden bad_name
    mkdir -p "$BRED_MACHINES_DIR/plain/etc"
    make_tree .hidden > /dev/null
    make_tree bad_name > /dev/null
    sleep 1
    local list
    list=$(bus_call ListMachines)
    assert_not_contains "$list" '"plain"'
    assert_not_contains "$list" 'hidden'
    assert_not_contains "$list" 'bad_name'
    # os-release appearing later turns the directory into a machine.
    mkdir -p "$BRED_MACHINES_DIR/plain/usr/lib"
    echo 'ID=late' > "$BRED_MACHINES_DIR/plain/usr/lib/os-release"
    wait_listed plain
    remove_machine_dirs plain .hidden bad_name
}

test_os_release_stays_inside_the_tree() {
    remove_machine_dirs escape
    local dir
    dir=$(make_tree escape)
    echo 'ID=hostsecret' > /root/host-os-release
    ln -sfn /root/host-os-release "$dir/etc/os-release"
    wait_listed escape
    sleep 0.5
    local props
    props=$(machine_prop escape OSRelease)
    assert_not_contains "$props" hostsecret
    assert_contains "$props" '"ID" "fakeos"'
    rm -f /root/host-os-release
    remove_machine_dirs escape
}

test_invalid_names() {
    local name
    for name in 'a..b' '.hidden' '-x' 'x-' 'a/b' 'has space' "$(printf 'a%.0s' {1..65})" ''; do
        assert_fails_with org.bredos.machine1.Error.InvalidName gcall GetMachine "$name"
        assert_fails_with org.bredos.machine1.Error.InvalidName gcall Remove "$name"
    done
    make_tree valid1 > /dev/null
    wait_listed valid1
    assert_fails_with org.bredos.machine1.Error.InvalidName gcall Rename valid1 'bad..new'
    assert_fails_with "not a valid machine name" bredmachine status 'a..b'
    assert_eq "$last_status" 2
    remove_machine_dirs valid1
}

test_no_such_machine() {
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall GetMachine nosuch
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Remove nosuch
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Rename nosuch other
    assert_fails_with "No machine 'nosuch'" bredmachine status nosuch
    assert_eq "$last_status" 1
}

test_unprivileged_user_cannot_remove_or_rename() {
    remove_machine_dirs guarded guarded2
    local dir before after
    dir=$(make_tree guarded)
    wait_listed guarded
    before=$(find "$dir" -printf '%p %s %T@\n' | sort | sha256sum)
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied gcall_as bob Remove guarded
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied gcall_as bob Rename guarded guarded2
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password remove guarded
    assert_eq "$last_status" 4
    assert_fails_with "Access denied" as_user bob bredmachine rename guarded guarded2
    assert_eq "$last_status" 4
    after=$(find "$dir" -printf '%p %s %T@\n' | sort | sha256sum)
    assert_eq "$after" "$before" "the tree changed after a denied call"
    [[ ! -e $BRED_MACHINES_DIR/guarded2 ]]
    # Reading is open to everyone.
    assert_contains "$(as_user bob bredmachine list)" guarded
    assert_contains "$(as_user bob bredmachine status guarded)" "State:"
    remove_machine_dirs guarded
}

test_group_member_may_remove_and_rename() {
    remove_machine_dirs alices alices2
    local dir
    dir=$(make_tree alices)
    printf '[Network]\nVirtualEthernet=yes\n' > /etc/systemd/nspawn/alices.nspawn
    wait_listed alices
    assert_ok as_user alice bredmachine --no-ask-password rename alices alices2
    wait_listed alices2
    [[ -d $BRED_MACHINES_DIR/alices2 && ! -e $dir ]]
    [[ -f /etc/systemd/nspawn/alices2.nspawn && ! -e /etc/systemd/nspawn/alices.nspawn ]]
    assert_contains "$(machine_prop alices2 Network)" '"mode" s "veth"'
    local out
    out=$(as_user alice bredmachine --no-ask-password remove alices2 2>&1)
    assert_contains "$out" "Removed machine 'alices2'"
    [[ ! -e $BRED_MACHINES_DIR/alices2 ]]
    [[ ! -e /etc/systemd/nspawn/alices2.nspawn ]]
    wait_unlisted alices2
    # Nothing hidden is left behind either.
    assert_eq "$(find "$BRED_MACHINES_DIR" -maxdepth 1 -name '.#bred-*' | wc -l)" 0
}

test_root_renames_templates_too() {
    remove_machine_dirs tmpl1 tmpl2
    local dir
    dir=$(make_tree tmpl1)
    chattr +i "$dir"
    # The attribute change gives no inotify event; a new name does.
    wait_listed tmpl1
    bredmachine rename tmpl1 tmpl2
    wait_listed tmpl2
    assert_eq "$(machine_prop tmpl2 Class)" 's "template"'
    assert_eq "$(machine_prop tmpl2 ReadOnly)" 'b true'
    lsattr -d "$BRED_MACHINES_DIR/tmpl2" | grep -q -- '-i-'
    assert_contains "$(bredmachine list)" "tmpl2  template"
    bredmachine remove tmpl2
    [[ ! -e $BRED_MACHINES_DIR/tmpl2 ]]
}

test_rename_refuses_existing_names() {
    remove_machine_dirs first second
    make_tree first > /dev/null
    make_tree second > /dev/null
    wait_listed first
    wait_listed second
    assert_fails_with org.bredos.machine1.Error.AlreadyExists gcall Rename first second
    assert_contains "$(bus_call ListMachines)" '"first"'
    touch /etc/systemd/nspawn/third.nspawn
    assert_fails_with org.bredos.machine1.Error.AlreadyExists gcall Rename first third
    [[ -d $BRED_MACHINES_DIR/first ]]
    rm -f /etc/systemd/nspawn/third.nspawn
    remove_machine_dirs first second
}

test_running_machine_is_busy() {
    remove_machine_dirs busy1
    make_tree busy1 > /dev/null
    wait_listed busy1
    register_running busy1
    assert_contains "$(machine_prop busy1 Unit)" bred-test-busy1.service
    assert_fails_with org.bredos.machine1.Error.Busy gcall Remove busy1
    assert_contains "$last_stderr" "stop it first"
    assert_fails_with org.bredos.machine1.Error.Busy gcall Rename busy1 busy2
    [[ -d $BRED_MACHINES_DIR/busy1 ]]
    unregister_running busy1
    bredmachine remove busy1
}

test_signals() {
    remove_machine_dirs sig1
    start_monitor
    make_tree sig1 > /dev/null
    wait_listed sig1
    printf '[Files]\nBind=/srv\n' > /etc/systemd/nspawn/sig1.nspawn
    wait_for 10 bash -c "busctl --system get-property $BRED_BUS_NAME $(machine_path sig1) org.bredos.machine1.Machine Binds | grep -q /srv"
    bredmachine --no-progress remove sig1 > /dev/null 2>&1
    local log
    log=$(stop_monitor)
    assert_contains "$log" "org.bredos.machine1.Manager.MachineNew ('sig1', objectpath '$(machine_path sig1)')"
    assert_contains "$log" "org.freedesktop.DBus.ObjectManager.InterfacesAdded (objectpath '$(machine_path sig1)'"
    assert_contains "$log" "org.freedesktop.DBus.Properties.PropertiesChanged ('org.bredos.machine1.Machine', {'Binds'"
    assert_contains "$log" "org.bredos.machine1.Manager.JobNew"
    assert_contains "$log" "org.bredos.machine1.Job.LogMessage"
    assert_contains "$log" "'State': <'done'>"
    assert_contains "$log" "org.bredos.machine1.Manager.MachineRemoved ('sig1'"
    assert_contains "$log" "org.bredos.machine1.Manager.JobRemoved"
    assert_contains "$log" "'done', '', '')"
    # The final job properties come before JobRemoved.
    local done_line removed_line
    done_line=$(grep -n "'State': <'done'>" <<< "$log" | head -1 | cut -d: -f1)
    removed_line=$(grep -n "Manager.JobRemoved" <<< "$log" | head -1 | cut -d: -f1)
    ((done_line < removed_line))
}

test_object_manager() {
    remove_machine_dirs om1
    make_tree om1 > /dev/null
    wait_listed om1
    local out
    out=$(busctl --system call "$BRED_BUS_NAME" "$BRED_BUS_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects)
    assert_contains "$out" "$(machine_path om1)"
    assert_contains "$out" org.bredos.machine1.Machine
    remove_machine_dirs om1
}

test_client_json_and_jobs() {
    remove_machine_dirs json1
    make_tree json1 debian > /dev/null
    wait_listed json1
    local out
    out=$(bredmachine list --json)
    jq -e 'type == "array"' <<< "$out" > /dev/null
    assert_eq "$(jq -r '.[] | select(.name == "json1") | .class' <<< "$out")" container
    assert_eq "$(jq -r '.[] | select(.name == "json1") | .architecture' <<< "$out")" x86-64
    out=$(bredmachine status json1 --json)
    assert_eq "$(jq -r .OSRelease.ID <<< "$out")" debian
    assert_eq "$(jq -r .State <<< "$out")" stopped
    out=$(bredmachine jobs --json)
    jq -e 'type == "array"' <<< "$out" > /dev/null
    assert_contains "$(bredmachine jobs)" "No jobs."
    assert_fails_with "No job 4242" bredmachine cancel 4242
    assert_fails_with "not a job id" bredmachine cancel abc
    assert_eq "$last_status" 2
    # Without a terminal there is no progress bar.
    out=$(bredmachine remove json1 2>&1)
    assert_not_contains "$out" $'\r'
    assert_fails_with "Unknown verb" bredmachine frobnicate
    assert_eq "$last_status" 2
    assert_contains "$(bredmachine --help)" "rename NAME NEW"
}

test_leftovers_removed_at_start() {
    mkdir -p "$BRED_MACHINES_DIR/.#bred-remove-crashed-0000/usr/lib"
    echo ID=x > "$BRED_MACHINES_DIR/.#bred-remove-crashed-0000/usr/lib/os-release"
    systemctl stop bred-machined.service
    assert_eq "$(systemctl is-active bred-machined.service)" inactive
    journalctl -u bred-machined.service --no-pager | grep -q "shutting down"
    # Any call activates it again.
    bus_call ListMachines > /dev/null
    wait_for 10 bash -c "[[ ! -e '$BRED_MACHINES_DIR/.#bred-remove-crashed-0000' ]]"
    journalctl -u bred-machined.service --no-pager | grep -q "Recovering from an interrupted job: removed .*\.#bred-remove-crashed-0000"
}

run_test "machines are discovered with their properties" test_discovery_and_properties
run_test "directories that are not OS trees are not machines" test_not_os_trees_are_ignored
run_test "os-release is read without leaving the tree" test_os_release_stays_inside_the_tree
run_test "invalid names get InvalidName" test_invalid_names
run_test "unknown machines get NoSuchMachine" test_no_such_machine
run_test "an unprivileged user can neither remove nor rename" test_unprivileged_user_cannot_remove_or_rename
run_test "a bredmachine group member may remove and rename" test_group_member_may_remove_and_rename
run_test "root renames and removes templates" test_root_renames_templates_too
run_test "rename never replaces a machine or its settings" test_rename_refuses_existing_names
run_test "a running machine is Busy" test_running_machine_is_busy
run_test "machine, property and job signals are emitted" test_signals
run_test "the object manager lists machines" test_object_manager
run_test "the client's JSON, jobs and usage errors" test_client_json_and_jobs
run_test "leftovers of interrupted jobs are removed at start" test_leftovers_removed_at_start
