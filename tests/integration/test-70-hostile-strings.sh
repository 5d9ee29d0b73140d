#!/usr/bin/env bash
# Text an attacker controls never stops the daemon: root inside a container
# writes invalid UTF-8 (and binary junk, FIFOs, device nodes) where the daemon
# reads os-release and the host0 file, and makes the commands the daemon runs
# print it; the daemon keeps answering with the bytes replaced by U+FFFD,
# starts again with the garbage in place, and a client waiting for a job
# notices when the daemon dies.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# What every invalid byte becomes (U+FFFD, the replacement character).
R=$'\xef\xbf\xbd'

daemon_pid() { systemctl show -P MainPID bred-machined.service; }
wait_listed() { wait_for 10 bash -c "busctl --system call $BRED_BUS_NAME $BRED_BUS_PATH $BRED_MANAGER_IFACE ListMachines | grep -q '\"$1\"'"; }
# The machine's OSRelease as JSON, where strings are raw UTF-8.
os_release_json() {
    busctl --system --json=short get-property "$BRED_BUS_NAME" "$(machine_path "$1")" \
        org.bredos.machine1.Machine OSRelease
}

# Container root's os-release, replacing the symlink make_fake_os_tree made.
write_hostile_os_release() {
    local dir=$BRED_MACHINES_DIR/$1
    rm -f "$dir/etc/os-release"
    # \xff alone, an overlong '/', a UTF-16 surrogate, a truncated euro sign, a NUL, and valid text around them.
    printf 'ID=evil\nNAME="Bad\xfeOS"\nPRETTY_NAME="\xff"\nVERSION="1\xc0\xaf2"\nVARIANT="\xed\xa0\x80"\nBUILD_ID="x\xe2\x82"\nIMAGE_ID="a\0b"\nVERSION_CODENAME="caf\xc3\xa9"\n' \
        > "$dir/etc/os-release.new"
    mv "$dir/etc/os-release.new" "$dir/etc/os-release"
}

check_escaped_os_release() {
    local json
    json=$(os_release_json "$1")
    assert_contains "$json" "\"PRETTY_NAME\":\"$R\""
    assert_contains "$json" "\"NAME\":\"Bad${R}OS\""
    assert_contains "$json" "\"VERSION\":\"1${R}${R}2\""
    assert_contains "$json" "\"VARIANT\":\"${R}${R}${R}\""
    assert_contains "$json" "\"BUILD_ID\":\"x${R}${R}\""
    assert_contains "$json" "\"IMAGE_ID\":\"a${R}b\""
    # Valid multibyte text is kept as it is.
    assert_contains "$json" "\"VERSION_CODENAME\":\"caf"$'\xc3\xa9'"\""
}

check_daemon_answers() {
    assert_ok bus_call ListMachines
    assert_ok bredmachine list
}

test_invalid_utf8_in_os_release_is_escaped() {
    remove_machine_dirs utf1 utf2
    # The test runs in a subshell of its own: this cleans up however it ends.
    trap 'remove_machine_dirs utf1 utf2' EXIT
    local pid
    make_fake_os_tree utf1 > /dev/null
    wait_listed utf1
    pid=$(daemon_pid)
    # A change seen by inotify: PropertiesChanged carries the new values.
    write_hostile_os_release utf1
    wait_for 10 bash -c "busctl --system --json=short get-property $BRED_BUS_NAME $(machine_path utf1) org.bredos.machine1.Machine OSRelease | grep -q PRETTY_NAME...$R"
    check_escaped_os_release utf1
    # A tree that is hostile from the start: InterfacesAdded carries them.
    make_fake_os_tree utf2 > /dev/null
    write_hostile_os_release utf2
    wait_listed utf2
    check_escaped_os_release utf2
    check_daemon_answers
    assert_contains "$(bredmachine list)" utf2
    local status
    status=$(bredmachine status utf2)
    assert_contains "$status" "OS:"
    assert_contains "$status" "$R"
    assert_contains "$(bredmachine --json list)" utf1
    assert_eq "$(daemon_pid)" "$pid" "the daemon's PID"
}

# A block device standing in for a host disk: a loop device on a file of random bytes.
make_sentinel_device() {
    sentinel_file=$(mktemp /var/tmp/bred-sentinel.XXXXXX)
    head -c 1M /dev/urandom > "$sentinel_file"
    cp "$sentinel_file" "$sentinel_file.orig"
    sentinel_loop=$(losetup --find --show "$sentinel_file")
}
drop_sentinel_device() {
    losetup -d "$sentinel_loop" 2> /dev/null || true
    rm -f "$sentinel_file" "$sentinel_file.orig"
}

make_garbage_trees() {
    local dir
    make_fake_os_tree junk-utf8 > /dev/null
    write_hostile_os_release junk-utf8
    # The host0 file container root controls, with invalid bytes in every value.
    dir=$BRED_MACHINES_DIR/junk-utf8/etc/systemd/network
    mkdir -p "$dir"
    printf '[Network]\nAddress=10.0.0.2/24\xff\nGateway=\xc0\x80\nDNS=1.1.1.1\xfe\n' > "$dir/80-bred-host0.network"
    # Binary junk as os-release.
    make_fake_os_tree junk-binary > /dev/null
    rm -f "$BRED_MACHINES_DIR/junk-binary/etc/os-release"
    { printf 'ID=binary\nPRETTY_NAME=\x80\xff\n'; head -c 8192 /dev/urandom; } > "$BRED_MACHINES_DIR/junk-binary/etc/os-release"
    # A huge os-release: read no further than the daemon's limit (the tree is then not an OS tree).
    make_fake_os_tree junk-huge > /dev/null
    rm -f "$BRED_MACHINES_DIR/junk-huge/etc/os-release" "$BRED_MACHINES_DIR/junk-huge/usr/lib/os-release"
    { echo ID=huge; head -c 1M /dev/zero | tr '\0' 'x'; } > "$BRED_MACHINES_DIR/junk-huge/etc/os-release"
    # A FIFO and a device node (the sentinel) as os-release: never opened.
    make_fake_os_tree junk-fifo > /dev/null
    rm -f "$BRED_MACHINES_DIR/junk-fifo/etc/os-release" "$BRED_MACHINES_DIR/junk-fifo/usr/lib/os-release"
    mkfifo "$BRED_MACHINES_DIR/junk-fifo/etc/os-release"
    make_fake_os_tree junk-device > /dev/null
    rm -f "$BRED_MACHINES_DIR/junk-device/etc/os-release" "$BRED_MACHINES_DIR/junk-device/usr/lib/os-release"
    mknod "$BRED_MACHINES_DIR/junk-device/etc/os-release" b "$(stat -c '%t' "$sentinel_loop" | xargs printf '%d')" \
        "$(stat -c '%T' "$sentinel_loop" | xargs printf '%d')"
    # A directory whose name is not UTF-8 (nor a machine name).
    make_fake_os_tree "junk"$'\xff' > /dev/null
}
garbage_trees=(junk-utf8 junk-binary junk-huge junk-fifo junk-device "junk"$'\xff')

test_daemon_restarts_with_garbage_trees() {
    remove_machine_dirs "${garbage_trees[@]}" good1
    make_sentinel_device
    trap 'remove_machine_dirs "${garbage_trees[@]}" good1; drop_sentinel_device' EXIT
    make_fake_os_tree good1 > /dev/null
    make_garbage_trees
    wait_listed junk-utf8
    local started=$SECONDS pid
    # Every start announces every machine: the garbage must not stop it.
    systemctl restart bred-machined.service
    ((SECONDS - started < 30)) || fail "the restart took $((SECONDS - started))s"
    pid=$(daemon_pid)
    assert_ne "$pid" 0 "the daemon's PID"
    check_daemon_answers
    local list
    list=$(bredmachine list)
    assert_contains "$list" good1
    assert_contains "$list" junk-utf8
    assert_contains "$list" junk-binary
    assert_not_contains "$list" junk-huge
    assert_not_contains "$list" junk-fifo
    assert_not_contains "$list" junk-device
    check_escaped_os_release junk-utf8
    assert_contains "$(os_release_json junk-binary)" "\"PRETTY_NAME\":\"${R}${R}\""
    local network
    network=$(busctl --system --json=short get-property "$BRED_BUS_NAME" "$(machine_path junk-utf8)" \
        org.bredos.machine1.Machine Network)
    assert_contains "$network" "10.0.0.2/24$R"
    assert_contains "$network" "\"gateway\":{\"type\":\"s\",\"data\":\"$R$R\"}"
    assert_contains "$network" "1.1.1.1$R"
    assert_contains "$(bredmachine status junk-utf8)" "10.0.0.2/24$R"
    # The calls that read every machine at once.
    assert_ok busctl --system call "$BRED_BUS_NAME" "$BRED_BUS_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects
    assert_ok busctl --system tree "$BRED_BUS_NAME"
    sleep 1
    assert_eq "$(daemon_pid)" "$pid" "the daemon's PID a second later"
    assert_eq "$(systemctl is-active bred-machined.service)" active
    # The device node was never opened: the sentinel is unchanged.
    cmp "$sentinel_file" "$sentinel_file.orig"
}

# Container root replaces useradd by a program that prints invalid UTF-8.
install_hostile_useradd() {
    cat > "$BRED_MACHINES_DIR/utfrun/usr/sbin/useradd" << EOF
#!/bin/sh
printf 'out \377\376 line\n'
printf 'err \300\257 line\n' >&2
exit $1
EOF
    chmod 755 "$BRED_MACHINES_DIR/utfrun/usr/sbin/useradd"
}

test_command_output_with_invalid_utf8() {
    remove_machine_dirs utfrun
    trap 'remove_machine_dirs utfrun' EXIT
    make_bootable_tree utfrun > /dev/null
    wait_listed utfrun
    local pid out err
    pid=$(daemon_pid)
    # Run: the command's output goes to the caller's descriptors, byte for byte.
    out=$(bredmachine run utfrun -- printf '\377\376\n' | od -An -tx1 | tr -d ' \n')
    assert_eq "$out" fffe0a
    # AddUser: its output comes back as LogMessage lines, escaped.
    install_hostile_useradd 0
    err=$(bredmachine add-user utfrun mallory 2>&1)
    assert_contains "$err" "out $R$R line"
    assert_contains "$err" "err $R$R line"
    # ...and as the failed job's error message.
    install_hostile_useradd 1
    assert_fails_with "useradd failed" bredmachine add-user utfrun mallory
    assert_contains "$last_stderr" "out $R$R line"
    # The journal has them as text, not as binary blobs.
    assert_contains "$(journalctl -u bred-machined.service --no-pager -o cat --since '-2min')" "out $R$R line"
    check_daemon_answers
    assert_eq "$(daemon_pid)" "$pid" "the daemon's PID"
}

test_client_exits_when_the_daemon_dies() {
    remove_machine_dirs bigsrc bigdst
    trap 'remove_machine_dirs bigsrc bigdst' EXIT
    make_fake_os_tree bigsrc > /dev/null
    # Real data, so the clone takes a while.
    dd if=/dev/zero of="$BRED_MACHINES_DIR/bigsrc/blob" bs=1M count=1500 status=none
    wait_listed bigsrc
    local err rc=0 client
    err=$(mktemp /tmp/bred-client-err.XXXXXX)
    bredmachine clone bigsrc bigdst 2> "$err" &
    client=$!
    wait_for 10 bash -c "bredmachine jobs | grep -q clone"
    # The daemon's own process: a crash, as SIGKILL makes it.
    kill -KILL "$(daemon_pid)"
    local killed=$SECONDS
    wait "$client" || rc=$?
    ((SECONDS - killed < 10)) || fail "the client took $((SECONDS - killed))s to notice"
    assert_eq "$rc" 1 "the client's exit status"
    assert_contains "$(<"$err")" "bred-machined exited while job"
    rm -f "$err"
    # The next start (by bus activation) clears what the dead daemon left.
    wait_for 30 bus_call ListMachines
    no_leftovers
}

run_test "invalid UTF-8 in os-release is returned escaped and the daemon keeps answering" \
    test_invalid_utf8_in_os_release_is_escaped
run_test "the daemon restarts and lists machines with garbage trees present" test_daemon_restarts_with_garbage_trees
run_test "invalid UTF-8 in command output reaches LogMessage and errors escaped" test_command_output_with_invalid_utf8
run_test "the client exits 1 when the daemon dies during its job" test_client_exits_when_the_daemon_dies
