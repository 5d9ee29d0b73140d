#!/usr/bin/env bash
# CopyTo and CopyFrom for real: into and out of a stopped machine (the daemon
# copies, resolving paths inside the tree) and a running container (machined
# copies), with owners and modes kept, an attacker's symlinks that must not
# reach the host, a FIFO and a device node in the tree, 'replace', bad paths
# and a stranger.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Host paths: outside the daemon's own sandbox (/tmp is private to it), as a caller names them.
HOST=/srv/bred-copy-test
SENTINEL=/etc/bred-host-sentinel
TREE=$BRED_MACHINES_DIR/cp1

setup() {
    remove_machine_dirs cp1 cptmpl
    rm -rf "$HOST" "$SENTINEL" /etc/bred-host-secret
    make_bootable_tree cp1 > /dev/null
    mkdir -p "$HOST/src/sub"
    echo "a file from the host" > "$HOST/file"
    chown 1234:2345 "$HOST/file"
    chmod 0640 "$HOST/file"
    echo "deep" > "$HOST/src/sub/deep"
    echo "top" > "$HOST/src/top"
    chown -R 1001:1002 "$HOST/src"
    chmod 0750 "$HOST/src/sub"
    chmod 0600 "$HOST/src/sub/deep"
    ln -s top "$HOST/src/link"
    # What an attacker inside wants to reach.
    printf 'host sentinel\n\001\002 not to be touched\n' > "$SENTINEL"
    cp -a "$SENTINEL" "$HOST/sentinel.orig"
    echo "host secret" > /etc/bred-host-secret
    wait_for 10 bash -c "bredmachine list | grep -q '^cp1 '"
}

teardown() {
    bredmachine stop cp1 > /dev/null 2>&1 || true
    remove_machine_dirs cp1 cptmpl
    rm -rf "$HOST" "$SENTINEL" /etc/bred-host-secret
}

# listing DIR: each entry's path, type, owner, group, mode and link target, sorted.
listing() { (cd "$1" && find . -printf '%p %y %U %G %m %l\n' | sort); }

daemon_answers() { bus_call ListMachines > /dev/null; }

sentinel_untouched() {
    cmp "$SENTINEL" "$HOST/sentinel.orig"
    assert_eq "$(stat -c '%u:%g %a' "$SENTINEL")" "$(stat -c '%u:%g %a' "$HOST/sentinel.orig")"
}

no_temporary_names() {
    local left
    left=$(find "$@" -name '.#bred-*' 2>/dev/null)
    [[ -z $left ]] || fail "left behind: $left"
}

test_stopped_both_ways() {
    bredmachine copy-to cp1 "$HOST/file" /root/file
    assert_eq "$(cat "$TREE/root/file")" "a file from the host"
    assert_eq "$(stat -c '%u:%g %a' "$TREE/root/file")" "1234:2345 640"
    bredmachine copy-to cp1 "$HOST/src" /root/src
    assert_eq "$(listing "$TREE/root/src")" "$(listing "$HOST/src")"
    assert_eq "$(cat "$TREE/root/src/sub/deep")" deep
    # PATH defaults to HOST-PATH, and a relative HOST-PATH is the current directory's.
    mkdir -p "$TREE$HOST"
    (cd "$HOST" && bredmachine copy-to cp1 file)
    assert_eq "$(cat "$TREE$HOST/file")" "a file from the host"
    # Out again: the tree's own files, owners and modes kept.
    mkdir -p "$TREE/etc/bred-dir/inner"
    echo inner > "$TREE/etc/bred-dir/inner/f"
    chown -R 4242:4343 "$TREE/etc/bred-dir"
    chmod 0704 "$TREE/etc/bred-dir/inner/f"
    bredmachine copy-from cp1 /etc/bred-dir "$HOST/out-dir"
    assert_eq "$(listing "$HOST/out-dir")" "$(listing "$TREE/etc/bred-dir")"
    bredmachine copy-from cp1 /root/file "$HOST/out-file"
    assert_eq "$(stat -c '%u:%g %a' "$HOST/out-file")" "1234:2345 640"
    cmp "$HOST/file" "$HOST/out-file"
    no_temporary_names "$HOST" "$TREE/root" "$TREE/etc"
    assert_eq "$(machine_prop cp1 State)" 's "stopped"'
    daemon_answers
}

test_stopped_symlinks_stay_inside() {
    ln -s "$SENTINEL" "$TREE/etc/target"
    ln -s / "$TREE/escape"
    # A link at the destination is an existing destination...
    assert_fails_with "exists already" bredmachine copy-to cp1 "$HOST/file" /etc/target
    sentinel_untouched
    # ...replaced itself, never followed to the host.
    bredmachine copy-to cp1 "$HOST/file" /etc/target --replace
    [[ -f $TREE/etc/target && ! -L $TREE/etc/target ]]
    sentinel_untouched
    # A link to / on the way is the tree's root.
    bredmachine copy-to cp1 "$HOST/file" /escape/etc/bred-host-sentinel
    cmp "$HOST/file" "$TREE/etc/bred-host-sentinel"
    sentinel_untouched
    # A link to a host-only file reads the tree's (missing) file, not the host's.
    ln -s /etc/bred-host-secret "$TREE/etc/leak"
    assert_fails_with "There is no" bredmachine copy-from cp1 /etc/leak "$HOST/leak"
    [[ ! -e $HOST/leak ]]
    assert_fails_with "There is no" bredmachine copy-from cp1 /escape/etc/bred-host-secret "$HOST/leak"
    [[ ! -e $HOST/leak ]]
    # A link inside a copied directory is copied as a link.
    mkdir -p "$TREE/etc/evil-dir"
    ln -s / "$TREE/etc/evil-dir/up"
    ln -s "$SENTINEL" "$TREE/etc/evil-dir/sentinel"
    bredmachine copy-from cp1 /etc/evil-dir "$HOST/evil-dir"
    assert_eq "$(readlink "$HOST/evil-dir/up")" /
    assert_eq "$(readlink "$HOST/evil-dir/sentinel")" "$SENTINEL"
    sentinel_untouched
    daemon_answers
}

test_stopped_special_files() {
    mkfifo "$TREE/root/fifo"
    local started=$SECONDS
    assert_fails_with "is a FIFO" timeout 60 bredmachine copy-from cp1 /root/fifo "$HOST/fifo"
    ((SECONDS - started < 30))
    [[ ! -e $HOST/fifo ]]
    mkdir "$TREE/root/special"
    mkfifo "$TREE/root/special/pipe"
    mknod "$TREE/root/special/null" c 1 3
    echo plain > "$TREE/root/special/plain"
    timeout 60 bredmachine copy-from cp1 /root/special "$HOST/special"
    [[ -p $HOST/special/pipe ]]
    # A device node the container made never reaches the host.
    [[ ! -e $HOST/special/null ]]
    assert_eq "$(cat "$HOST/special/plain")" plain
    # Into a machine special files are copied as they are.
    timeout 60 bredmachine copy-to cp1 "$HOST/special" /root/special-back
    [[ -p $TREE/root/special-back/pipe ]]
    daemon_answers
}

test_stopped_replace() {
    bredmachine copy-to cp1 "$HOST/file" /root/r
    echo "second version" > "$HOST/file2"
    assert_fails_with "exists already" bredmachine copy-to cp1 "$HOST/file2" /root/r
    assert_eq "$(cat "$TREE/root/r")" "a file from the host"
    bredmachine copy-to cp1 "$HOST/file2" /root/r --replace
    assert_eq "$(cat "$TREE/root/r")" "second version"
    # A directory is replaced whole.
    bredmachine copy-to cp1 "$HOST/src" /root/rdir
    mkdir -p "$HOST/src2"
    echo new > "$HOST/src2/new"
    assert_fails_with "exists already" bredmachine copy-to cp1 "$HOST/src2" /root/rdir
    [[ -e $TREE/root/rdir/top ]]
    bredmachine copy-to cp1 "$HOST/src2" /root/rdir --replace
    [[ -e $TREE/root/rdir/new && ! -e $TREE/root/rdir/top ]]
    # The same out of the machine.
    bredmachine copy-from cp1 /root/r "$HOST/rout"
    assert_fails_with "exists already" bredmachine copy-from cp1 /root/rdir "$HOST/rout"
    assert_eq "$(cat "$HOST/rout")" "second version"
    bredmachine copy-from cp1 /root/rdir "$HOST/rout" --replace
    [[ -d $HOST/rout && -e $HOST/rout/new ]]
    no_temporary_names "$HOST" "$TREE/root"
    daemon_answers
}

test_errors() {
    assert_fails_with "There is no" bredmachine copy-to cp1 "$HOST/no-such-file" /root/x
    assert_eq "$last_status" 1
    assert_fails_with "There is no" bredmachine copy-from cp1 /no/such/file "$HOST/x"
    assert_fails_with "There is no directory" bredmachine copy-to cp1 "$HOST/file" /no/such/dir/x
    [[ ! -e $HOST/x ]]
    assert_fails_with InvalidArgs gcall CopyTo cp1 relative/path /root/x '{}'
    assert_fails_with InvalidArgs gcall CopyTo cp1 "$HOST/file" /root/../x '{}'
    assert_fails_with InvalidArgs gcall CopyFrom cp1 /root/file / '{}'
    assert_fails_with InvalidArgs gcall CopyTo cp1 "$HOST/file" /root/x "{'force': <true>}"
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall CopyTo nosuch "$HOST/file" /root/x '{}'
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password copy-to cp1 "$HOST/file" /root/bob
    assert_eq "$last_status" 4
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password copy-from cp1 /etc/os-release /srv/bob
    [[ ! -e $TREE/root/bob && ! -e /srv/bob ]]
    make_fake_os_tree cptmpl > /dev/null
    chattr +i "$BRED_MACHINES_DIR/cptmpl"
    wait_for 10 bash -c "bredmachine list | grep -q '^cptmpl '"
    assert_fails_with "is a template" bredmachine copy-to cptmpl "$HOST/file" /root/x
    bredmachine copy-from cptmpl /etc/os-release "$HOST/tmpl-os-release"
    cmp "$BRED_MACHINES_DIR/cptmpl/etc/os-release" "$HOST/tmpl-os-release"
    remove_machine_dirs cptmpl
    daemon_answers
}

# Whether this machined can replace files (CopyToMachineWithFlags, systemd 252 and later).
machined_replaces() {
    busctl --system introspect org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager | grep -q CopyToMachineWithFlags
}

test_running_both_ways() {
    bredmachine start cp1 > /dev/null 2>&1
    container_running cp1
    bredmachine copy-to cp1 "$HOST/file" /root/rfile
    assert_eq "$(bredmachine run cp1 -- cat /root/rfile)" "a file from the host"
    assert_eq "$(bredmachine run cp1 -- stat -c '%u:%g %a' /root/rfile)" "1234:2345 640"
    bredmachine copy-to cp1 "$HOST/src" /root/rsrc
    assert_eq "$(bredmachine run cp1 -- stat -c '%u:%g %a' /root/rsrc/sub/deep)" "1001:1002 600"
    assert_eq "$(bredmachine run cp1 -- readlink /root/rsrc/link)" top
    bredmachine run cp1 -- sh -c 'mkdir -p /root/made && echo made > /root/made/f && chown -R 77:88 /root/made'
    bredmachine copy-from cp1 /root/made "$HOST/made"
    assert_eq "$(cat "$HOST/made/f")" made
    assert_eq "$(stat -c '%u:%g' "$HOST/made/f")" "77:88"
    # replace
    assert_fails_with "exists already" bredmachine copy-to cp1 "$HOST/file" /root/rfile
    echo "second version" > "$HOST/file2"
    if machined_replaces; then
        bredmachine copy-to cp1 "$HOST/file2" /root/rfile --replace
        assert_eq "$(bredmachine run cp1 -- cat /root/rfile)" "second version"
    else
        assert_fails_with NotSupported gcall CopyTo cp1 "$HOST/file2" /root/rfile "{'replace': <true>}"
    fi
    # The container's symlinks are machined's to resolve, inside the container.
    # (machined copies a link as a link, or refuses: either way the host's file is not read.)
    bredmachine run cp1 -- ln -s /etc/bred-host-secret /root/leak
    bredmachine copy-from cp1 /root/leak "$HOST/rleak" || true
    [[ -L $HOST/rleak || ! -e $HOST/rleak ]]
    bredmachine run cp1 -- ln -s "$SENTINEL" /root/target
    assert_fails_with "exists already" bredmachine copy-to cp1 "$HOST/file" /root/target
    sentinel_untouched
    assert_fails bredmachine copy-from cp1 /root/no-such "$HOST/none"
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password copy-to cp1 "$HOST/file" /root/bob
    assert_eq "$(machine_prop cp1 State)" 's "running"'
    daemon_answers
    bredmachine stop cp1 > /dev/null 2>&1
}

run_setup setup teardown
run_test "copy-to and copy-from a stopped machine keep owners and modes" test_stopped_both_ways
run_test "a stopped machine's symlinks never lead to the host" test_stopped_symlinks_stay_inside
run_test "FIFOs and device nodes in a stopped tree neither hang nor reach the host" test_stopped_special_files
run_test "replace, and nothing without it" test_stopped_replace
run_test "bad paths, options, templates and strangers are refused" test_errors
run_test "copy-to and copy-from a running container, through machined" test_running_both_ways
run_teardown teardown
