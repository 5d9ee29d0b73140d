#!/usr/bin/env bash
# Hostile callers and containers: an unprivileged caller (bob), a member of
# the bredmachine group (alice) and root inside a container try what an
# attacker would. Config files get no injected line, bob learns nothing about
# host paths, root inside reaches no host device and no caller's terminal, a
# password hash shows on no command line; and the daemon answers afterwards.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

machine=hc1
settings=/etc/systemd/nspawn/$machine.nspawn
sentinel_image=/var/tmp/bred-hc-sentinel.img
details_rule=/etc/polkit-1/rules.d/10-bred-test-details.rules

state_of() { machine_prop "$1" State; }

# gcall_as USER METHOD ARG...: gcall as USER (gdbus prints the error name).
gcall_as() {
    local user=$1 method=$2
    shift 2
    as_user "$user" gdbus call --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" \
        --method "$BRED_MANAGER_IFACE.$method" -- "$@"
}

daemon_answers() {
    assert_ok bus_call ListMachines
}

setup() {
    remove_machine_dirs "$machine"
    make_bootable_tree "$machine" > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^$machine '"
    mkdir -p /srv/hc-share /srv/hc-denied
    # A settings file to keep: the tests compare it before and after.
    bredmachine bind "$machine" /srv/hc-share:/mnt/share
}

teardown() {
    bredmachine stop "$machine" > /dev/null 2>&1 || true
    remove_machine_dirs "$machine"
    rm -rf /srv/hc-share /srv/hc-denied /srv/hc-mkdir
}

test_injected_lines_are_refused() {
    cp "$settings" /tmp/hc-settings.before
    local injected="br0\\n[Files]\\nBind=/:/host"
    # alice may configure the machine: only the checks of each value stand in the way.
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice SetNetwork "$machine" "{'mode': <'bridge'>, 'bridge': <'$injected'>}"
    assert_contains "$last_stderr" "Setting 'bridge'"
    assert_contains "$last_stderr" "15 printable ASCII characters"
    local bridge
    for bridge in 'br0\r[Files]' 'br0\t' 'br/0' 'br:0' '..' 'a-bridge-name-too-long' '12345' 'br 0'; do
        assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
            gcall_as alice SetNetwork "$machine" "{'mode': <'bridge'>, 'bridge': <'$bridge'>}"
        assert_contains "$last_stderr" "Setting 'bridge'"
    done
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice SetNetwork "$machine" "{'mode': <'veth'>, 'address': <'10.0.0.2/24\\nDNS=192.0.2.66'>}"
    assert_contains "$last_stderr" "Setting 'address'"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice SetNetwork "$machine" "{'mode': <'veth'>, 'address': <'10.0.0.2/33'>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice SetNetwork "$machine" "{'mode': <'veth'>, 'gateway': <'10.0.0.1\\r[Match]'>}"
    assert_contains "$last_stderr" "Setting 'gateway'"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice SetNetwork "$machine" "{'mode': <'veth'>, 'dns': <['192.0.2.1', 'example.org']>}"
    assert_contains "$last_stderr" "Setting 'dns'"
    local path
    # (In gdbus's quoted strings, \n, \r, \t and \u007f are the control characters, \\ a backslash.)
    for path in "/srv/hc-share\\n[Files]\\nBind=/:/host" '/srv/hc-share\r' '/srv/hc\tshare' '/srv/hc\\share' \
        '/srv/hc-share ' '/srv/hc\u007fshare'; do
        assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
            gcall_as alice Bind "$machine" "'$path'" /mnt/x '{}'
        assert_contains "$last_stderr" "The source"
        assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
            gcall_as alice Bind "$machine" /srv/hc-share "'$path'" '{}'
        assert_contains "$last_stderr" "The destination"
        assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall_as alice Unbind "$machine" "'$path'"
    done
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice AddUser "$machine" mallory "{'shell': <'/bin/sh\\r'>}"
    assert_contains "$last_stderr" "Option 'shell'"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice AddUser "$machine" mallory "{'groups': <['users\\nroot']>}"
    assert_contains "$last_stderr" "Option 'groups'"
    assert_fails_with "Option 'env'" as_user alice bredmachine run "$machine" --env $'A=b\rc' -- true
    assert_fails_with "Option 'cwd'" as_user alice bredmachine run "$machine" --cwd $'/tmp\t' -- true
    # Nothing was written: the settings file is as it was, the tree has no host0 file.
    assert_ok cmp /tmp/hc-settings.before "$settings"
    assert_not_contains "$(cat "$settings")" "Bind=/:/host"
    [[ ! -e $BRED_MACHINES_DIR/$machine/etc/systemd/network/80-bred-host0.network ]]
    assert_fails bredmachine run "$machine" -- getent passwd mallory
    # A colon in a path is fine: escaped in the file, read back whole.
    mkdir -p /srv/hc-share/a:b
    gcall_as alice Bind "$machine" /srv/hc-share/a:b /mnt/a:b '{}' > /dev/null
    assert_contains "$(cat "$settings")" 'Bind=/srv/hc-share/a\:b:/mnt/a\:b'
    assert_contains "$(machine_prop "$machine" Binds)" '"/srv/hc-share/a:b" "/mnt/a:b" false'
    gcall_as alice Unbind "$machine" /mnt/a:b > /dev/null
    assert_ok cmp /tmp/hc-settings.before "$settings"
    daemon_answers
}

test_bind_tells_a_stranger_nothing_about_host_paths() {
    mkdir -p /root/hc-secret-dir
    cp "$settings" /tmp/hc-settings.before
    local existing nonexisting
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied \
        gcall_as bob Bind "$machine" /root/hc-secret-dir /mnt/x '{}'
    existing=$last_stderr
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied \
        gcall_as bob Bind "$machine" /root/hc-no-such-dir /mnt/x '{}'
    nonexisting=$last_stderr
    # The same answer whether the path exists or not.
    assert_eq "$existing" "$nonexisting"
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied \
        gcall_as bob Bind "$machine" /srv/hc-mkdir /mnt/x "{'mkdir': <true>}"
    [[ ! -e /srv/hc-mkdir ]]
    assert_ok cmp /tmp/hc-settings.before "$settings"
    assert_not_contains "$(cat "$settings")" hc-secret
    # Once authorized, a missing source is named.
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs \
        gcall_as alice Bind "$machine" /root/hc-no-such-dir /mnt/x '{}'
    assert_contains "$last_stderr" "does not exist on the host"
    rmdir /root/hc-secret-dir
    daemon_answers
}

test_polkit_details_carry_the_values() {
    # A rule that denies alice on chosen values: a denial proves the value
    # arrived as that detail.
    cat > "$details_rule" << 'EOF'
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.bredos.machine1.") != 0 || subject.user != "alice")
        return polkit.Result.NOT_HANDLED;
    if (action.lookup("source") == "/srv/hc-denied" ||
        (action.lookup("destination") == "/mnt/ro-denied" && action.lookup("read_only") == "true") ||
        action.lookup("bridge") == "brdenied" || action.lookup("user") == "denieduser" ||
        (action.lookup("command") || "").indexOf("denied-command") >= 0)
        return polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});
EOF
    systemctl restart polkit
    wait_for 20 systemctl is-active -q polkit
    cp "$settings" /tmp/hc-settings.before
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied gcall_as alice Bind "$machine" /srv/hc-denied /mnt/d '{}'
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied \
        gcall_as alice Bind "$machine" /srv/hc-share /mnt/ro-denied "{'read_only': <true>}"
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied \
        gcall_as alice SetNetwork "$machine" "{'mode': <'bridge'>, 'bridge': <'brdenied'>}"
    assert_fails_with org.freedesktop.DBus.Error.AccessDenied gcall_as alice AddUser "$machine" denieduser '{}'
    assert_fails_with "Access denied" as_user alice bredmachine --no-ask-password run "$machine" -- echo denied-command
    assert_fails_with "Access denied" as_user alice bredmachine --no-ask-password run "$machine" --user denieduser -- true
    assert_ok cmp /tmp/hc-settings.before "$settings"
    # The same calls with other values pass the rule: each denial came from the detail's value.
    gcall_as alice Bind "$machine" /srv/hc-share /mnt/ro-denied '{}' > /dev/null
    gcall_as alice Unbind "$machine" /mnt/ro-denied > /dev/null
    assert_eq "$(as_user alice bredmachine run "$machine" -- echo allowed-command)" allowed-command
    rm -f "$details_rule"
    systemctl restart polkit
    wait_for 20 systemctl is-active -q polkit
    daemon_answers
}

# A loop device over a file of known bytes: what root inside must not reach.
make_sentinel() {
    head -c 4M /dev/urandom > "$sentinel_image"
    cp "$sentinel_image" "$sentinel_image.orig"
    losetup --find --show "$sentinel_image"
}

drop_sentinel() {
    losetup -d "$1" 2> /dev/null || true
    rm -f "$sentinel_image" "$sentinel_image.orig"
}

# attack_device DEVICE: as root in the container, make a node for the host's
# DEVICE, write zeros over its start and read it. Prints what happened. (In
# /dev: /tmp is mounted nodev, which would refuse any device node, confined or not.)
attack_device() {
    local major minor
    read -r major minor < <(stat -c '%Hr %Lr' "$1")
    bredmachine run "$machine" -- sh -c "echo uid=\$(id -u)
        if mknod /dev/hc-disk b $major $minor; then
            dd if=/dev/zero of=/dev/hc-disk bs=4k count=4 conv=notrunc,fsync || echo write-failed
            dd if=/dev/hc-disk of=/dev/null bs=4k count=1 || echo read-failed
            rm -f /dev/hc-disk
        else
            echo mknod-failed
        fi" 2>&1 || true
}

# check_device_untouched DEVICE OUTPUT: the attack was refused (EPERM) and the
# device holds what it held.
check_device_untouched() {
    local device=$1 out=$2
    assert_contains "$out" "uid=0"
    assert_contains "$out" "Operation not permitted"
    if [[ $out != *mknod-failed* ]]; then
        assert_contains "$out" write-failed
        assert_contains "$out" read-failed
    fi
    assert_ok cmp "$sentinel_image.orig" "$device"
    assert_ok cmp "$sentinel_image.orig" "$sentinel_image"
}

# device_attack_possible: skip unless this machine can show the confinement.
device_attack_possible() {
    [[ -e /dev/loop-control ]] || skip_because "no loop devices in this testbed"
    device_policy_enforced || skip_because "this testbed's systemd does not enforce DevicePolicy= (a unit with DevicePolicy=closed opened /dev/loop-control)"
}

# device_attack_fails: root in the machine tries to reach a loop device over a
# sentinel file; the sentinel stays byte for byte what it was.
device_attack_fails() {
    local device out
    device=$(make_sentinel)
    out=$(attack_device "$device")
    echo "$out"
    check_device_untouched "$device" "$out"
    drop_sentinel "$device"
}

test_a_command_in_a_stopped_tree_reaches_no_host_device() {
    device_attack_possible
    device_attack_fails
    assert_eq "$(state_of "$machine")" 's "stopped"'
    daemon_answers
}

test_a_started_container_reaches_no_host_device() {
    device_attack_possible
    bredmachine start "$machine" > /dev/null 2>&1
    systemd-run -M "$machine" --wait --pipe -q systemctl is-system-running --wait > /dev/null || true
    device_attack_fails
    daemon_answers
}

# machinectl's unit allows loop and device-mapper devices, and the container's
# .nspawn file turns its user namespace off: the daemon's drop-in must take
# those devices away again.
test_a_container_started_by_machinectl_reaches_no_host_device() {
    device_attack_possible
    bredmachine stop "$machine" > /dev/null 2>&1 || true
    wait_for 30 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$machine") org.bredos.machine1.Machine State) == 's \"stopped\"' ]]"
    machinectl start "$machine"
    assert_eq "$(machinectl show -p Unit --value "$machine")" "systemd-nspawn@$machine.service"
    wait_for 60 systemd-run -M "$machine" --wait --pipe -q true
    device_attack_fails
    check_confined "systemd-nspawn@$machine.service"
    machinectl stop "$machine"
    wait_for 60 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$machine") org.bredos.machine1.Machine State) == 's \"stopped\"' ]]"
    daemon_answers
}

# check_confined UNIT: UNIT has the device policy and settings of a container's unit.
check_confined() {
    assert_eq "$(systemctl show -P DevicePolicy "$1")" closed
    assert_contains "$(systemctl show -P DeviceAllow "$1")" "char-pts rw"
    assert_contains "$(systemctl show -P DeviceAllow "$1")" "/dev/net/tun rwm"
    assert_not_contains "$(systemctl show -P DeviceAllow "$1")" block-loop
    assert_eq "$(systemctl show -P Delegate "$1")" yes
    assert_eq "$(systemctl show -P Slice "$1")" machine.slice
    assert_eq "$(systemctl show -P TasksMax "$1")" 16384
    assert_eq "$(systemctl show -P LimitNOFILE "$1")" 524288
}

test_every_nspawn_unit_is_confined_alike() {
    bredmachine stop "$machine" > /dev/null 2>&1 || true
    wait_for 30 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$machine") org.bredos.machine1.Machine State) == 's \"stopped\"' ]]"
    # The unit running a command in the stopped tree...
    (timeout -s INT 20 bredmachine run "$machine" -- sleep 60 > /dev/null 2>&1 || true) &
    local unit='' i
    for ((i = 0; i < 50; i++)); do
        unit=$(systemctl list-units --no-legend --plain "bred-run-$machine-*" | awk '{print $1}' | head -n1)
        [[ -n $unit ]] && break
        sleep 0.2
    done
    [[ -n $unit ]] || { echo "no run unit appeared"; return 1; }
    check_confined "$unit"
    wait
    # ...and the unit booting it.
    bredmachine start "$machine" > /dev/null 2>&1
    check_confined "bred-machine-$machine.service"
    bredmachine stop "$machine" > /dev/null 2>&1
    daemon_answers
}

# Whether this testbed's systemd enforces DevicePolicy= at all: it cannot when
# its devices controller is a read-only cgroup v1 hierarchy (a testbed booted
# on a host with hybrid cgroups) and the kernel attaches no BPF device filter.
device_policy_enforced() {
    if systemd-run --wait --quiet --pipe -p DevicePolicy=closed sh -c 'exec 3< /dev/loop-control' 2> /dev/null; then
        return 1
    fi
    return 0
}

# on_a_terminal SCRIPT: runs bash SCRIPT on a fresh pty, as a person at a
# terminal would, and prints what it wrote there.
on_a_terminal() {
    python3 - "$1" << 'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "-c", sys.argv[1]])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
EOF
}

test_run_on_a_terminal_keeps_the_callers_terminal() {
    [[ $(state_of "$machine") == 's "running"' ]] || bredmachine start "$machine" > /dev/null 2>&1
    # Root inside pushes a command line into its terminal (TIOCSTI); the caller
    # then reads its own terminal, which must hold nothing typed.
    local inside out
    inside='import fcntl, os, termios
print("inside-rdev=%d" % os.fstat(0).st_rdev)
pushed = 0
for c in b"echo INJECTED-BY-CONTAINER\n":
    try:
        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))
        pushed += 1
    except OSError as error:
        print("tiocsti:", error)
        break
print("pushed=%d" % pushed)'
    out=$(on_a_terminal "python3 -c 'import os; print(\"caller-rdev=%d\" % os.fstat(0).st_rdev)'
        bredmachine run $machine -- python3 -c '$inside'; read -t 3 -r line; echo \"caller-read:[\$line]\"")
    echo "$out"
    local caller_rdev inside_rdev
    caller_rdev=$(sed -n 's/^caller-rdev=\([0-9]*\).*/\1/p' <<< "$out")
    inside_rdev=$(sed -n 's/^inside-rdev=\([0-9]*\).*/\1/p' <<< "$out")
    [[ -n $caller_rdev && -n $inside_rdev ]] || { echo "missing terminal numbers"; return 1; }
    assert_ne "$inside_rdev" "$caller_rdev" "the container got the caller's own terminal"
    assert_contains "$out" "caller-read:[]"
    # Without a terminal, the descriptors go through as they are.
    assert_eq "$(echo piped | bredmachine run "$machine" -- cat)" piped
    daemon_answers
}

test_password_hash_on_no_command_line() {
    bredmachine stop "$machine" > /dev/null 2>&1 || true
    wait_for 30 bash -c "[[ \$(busctl --system get-property $BRED_BUS_NAME $(machine_path "$machine") org.bredos.machine1.Machine State) == 's \"stopped\"' ]]"
    # "secret", as `openssl passwd -6 -salt hcsaltxx secret` makes it.
    # shellcheck disable=SC2016 # a crypt(3) hash, not an expansion
    local hash='$6$hcsaltxx$ZBt/vdzScn3LVD84sHvpZ5kSfpFq.V9zX0pVcmyVx4zMPrh9yYyXtD8fjEuk7rDP3AXXxYF8jU8Q86zOQeXyv0'
    local since seen=/tmp/hc-seen rc=0
    since=$(date +%s)
    : > "$seen"
    # The hash from stdin: on no command line, not even the client's.
    bredmachine add-user "$machine" hcuser --password-hash - <<< "$hash" > /dev/null 2>&1 &
    local adder=$!
    # While it runs: every command line, and every property of the units it
    # runs in (one process reads them all, so that a loaded machine still
    # samples often).
    python3 - "$adder" "$seen" <<'EOF'
import glob, subprocess, sys, time
adder, seen = int(sys.argv[1]), sys.argv[2]
with open(seen, "a") as out:
    while True:
        try:  # gone, or a zombie not yet reaped by the shell
            with open(f"/proc/{adder}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except OSError:
            break
        for path in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(path, "rb") as f:
                    out.write(f.read().replace(b"\0", b" ").decode(errors="replace") + "\n")
            except OSError:
                pass
        out.write(subprocess.run(["systemctl", "show", "--all", "bred-run-*"], capture_output=True, text=True).stdout)
        time.sleep(0.02)
EOF
    wait "$adder" || rc=$?
    assert_eq "$rc" 0 "add-user"
    assert_contains "$(cat "$seen")" "useradd" "the sampling never saw the command"
    assert_not_contains "$(cat "$seen")" "hcsaltxx"
    assert_not_contains "$(journalctl --since "@$since" -o verbose --no-pager)" "hcsaltxx"
    # The hash arrived all the same.
    assert_contains "$(bredmachine run "$machine" -- getent shadow hcuser)" "$hash"
    daemon_answers
}

run_setup setup teardown
run_test "injected lines in config values are refused; nothing written" test_injected_lines_are_refused
run_test "Bind answers a stranger the same whether a host path exists" test_bind_tells_a_stranger_nothing_about_host_paths
run_test "polkit details carry bind paths, bridge, user and command" test_polkit_details_carry_the_values
run_test "the unit of a command in a stopped tree is confined as a booted container's" \
    test_every_nspawn_unit_is_confined_alike
run_test "a command in a stopped tree cannot reach a host block device" \
    test_a_command_in_a_stopped_tree_reaches_no_host_device
run_test "a started container cannot reach a host block device" test_a_started_container_reaches_no_host_device
run_test "a container started by machinectl cannot reach a host block device" \
    test_a_container_started_by_machinectl_reaches_no_host_device
run_test "run on a terminal relays a pty; the caller's terminal stays its own" test_run_on_a_terminal_keeps_the_callers_terminal
run_test "AddUser's password hash is on no command line and in no journal" test_password_hash_on_no_command_line
run_teardown teardown
