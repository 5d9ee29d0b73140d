#!/usr/bin/env bash
# ExportMachine and `bredmachine export` for real: a stopped machine with
# owners, modes, an xattr, an ACL, a file capability, a hard link, a sparse
# file, a symlink to a host path, a device node, a FIFO and a socket goes out
# with each compression and comes back with `import --container` entry for
# entry (less the socket, which the job's log names); the copy boots; a
# running machine, bad options and descriptors and a stranger are refused;
# a cancel leaves no file; the host is not touched.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Host paths: outside the daemon's own sandbox (/tmp is private to it).
HOST=/srv/bred-export-test
SENTINEL=/etc/bred-export-sentinel
TREE=$BRED_MACHINES_DIR/ex1
SMALL=$BRED_MACHINES_DIR/exsmall
FD_CALL=$(dirname "${BASH_SOURCE[0]}")/import-fd.py

# fixtures DIR: the entries an export must keep, under DIR/root/exp.
fixtures() {
    local exp=$1/root/exp
    mkdir -p "$exp/sub"
    echo "owned" > "$exp/owned"
    chown 1234:2345 "$exp/owned"
    chmod 0640 "$exp/owned"
    chmod 2750 "$exp/sub"
    chown 77:88 "$exp/sub"
    echo "attributed" > "$exp/xattr"
    setfattr -n user.bred -v hello "$exp/xattr"
    echo "acl" > "$exp/acl"
    setfacl -m u:1500:rw,g:1600:r "$exp/acl"
    cp /bin/true "$exp/cap"
    # cap_net_raw+ep, as setcap writes it (VFS_CAP_REVISION_2, effective).
    setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 "$exp/cap"
    echo "linked" > "$exp/hard1"
    ln "$exp/hard1" "$exp/sub/hard2"
    truncate -s 64M "$exp/sparse"
    printf 'middle' | dd of="$exp/sparse" bs=1 seek=$((32 << 20)) conv=notrunc status=none
    ln -s "$SENTINEL" "$exp/host-link"
    mkfifo -m 0620 "$exp/fifo"
    mknod -m 0600 "$1/dev/bred-null" c 1 3
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$exp/sock"
}

setup() {
    remove_machine_dirs ex1 exsmall ex1back exsmall-zst exsmall-gz exsmall-xz exsmall-none
    rm -rf "$HOST" "$SENTINEL"
    mkdir -p "$HOST"
    chmod 0777 "$HOST"
    printf 'host sentinel\n' > "$SENTINEL"
    cp -a "$SENTINEL" "$HOST/sentinel.orig"
    make_bootable_tree ex1 > /dev/null
    fixtures "$TREE"
    make_fake_os_tree exsmall > /dev/null
    mkdir -p "$SMALL/dev" "$SMALL/root"
    fixtures "$SMALL"
    wait_for 10 bash -c "bredmachine list | grep -q '^ex1 '"
    wait_for 10 bash -c "bredmachine list | grep -q '^exsmall '"
}

teardown() {
    bredmachine stop ex1 > /dev/null 2>&1 || true
    bredmachine stop ex1back > /dev/null 2>&1 || true
    remove_machine_dirs ex1 exsmall ex1back exsmall-zst exsmall-gz exsmall-xz exsmall-none
    rm -rf "$HOST" "$SENTINEL"
}

# listing DIR: every entry but sockets, sorted: path, type, mode, owner, group,
# size of regular files, link target, and the first path of its inode (hard links).
listing() {
    (cd "$1" && find . ! -type s ! -path ./etc/resolv.conf ! -path . -printf '%i %p %y %m %U %G %s %l\n' |
        sort -k2 | awk '{ if (!($1 in first)) first[$1] = $2; $1 = first[$1]; if ($3 != "f") $7 = "-"; print }' |
        sort -k2)
}

# attributes DIR: the xattrs (capabilities, ACLs among them) and ACLs of DIR/root/exp.
attributes() {
    (cd "$1/root/exp" && find . ! -type s -print0 | sort -z | xargs -0 getfattr -h -d -m - -e hex 2>/dev/null &&
        find . ! -type s ! -type l -print0 | sort -z | xargs -0 getfacl -n 2>/dev/null)
}

# times DIR: the modification times of DIR/root/exp's entries, to the nanosecond.
times() { (cd "$1/root/exp" && find . ! -type s -printf '%p %T@\n' | sort); }

daemon_answers() { bus_call ListMachines > /dev/null; }

sentinel_untouched() {
    cmp "$SENTINEL" "$HOST/sentinel.orig"
    assert_eq "$(stat -c '%u:%g %a' "$SENTINEL")" "$(stat -c '%u:%g %a' "$HOST/sentinel.orig")"
}

# same_tree A B: equal entry for entry, sockets aside.
same_tree() {
    assert_eq "$(listing "$2")" "$(listing "$1")" "entries"
    assert_eq "$(attributes "$2")" "$(attributes "$1")" "xattrs and ACLs"
    assert_eq "$(times "$2")" "$(times "$1")" "times"
    # The hole stayed a hole.
    (($(stat -c %b "$2/root/exp/sparse") * 512 < 8 << 20)) || fail "the sparse file was filled in"
    assert_eq "$(dd if="$2/root/exp/sparse" bs=1 skip=$((32 << 20)) count=6 status=none)" middle
    [[ ! -e $2/root/exp/sock ]] || fail "the socket was exported"
    assert_eq "$(readlink "$2/root/exp/host-link")" "$SENTINEL"
}

test_round_trip_boots() {
    local out
    out=$(bredmachine export ex1 "$HOST/ex1.tar.zst" 2>&1)
    assert_contains "$out" "/root/exp/sock"
    assert_eq "$(grep -c 'sock' <<< "$out")" 1 "one line about the socket"
    [[ $(head -c 4 "$HOST/ex1.tar.zst" | od -An -tx1 | tr -d ' ') == 28b52ffd ]] || fail "not zstd"
    bredmachine import ex1back "$HOST/ex1.tar.zst" --container
    assert_eq "$(machine_prop ex1back Class)" 's "container"'
    assert_eq "$(machine_prop ex1back ReadOnly)" 'b false'
    same_tree "$TREE" "$BRED_MACHINES_DIR/ex1back"
    bredmachine start ex1back
    assert_eq "$(machine_prop ex1back State)" 's "running"'
    bredmachine stop ex1back
    sentinel_untouched
    daemon_answers
}

test_each_compression() {
    local kind file magic
    for kind in zst gz xz none; do
        file=$HOST/small-$kind.tar
        bredmachine export exsmall "$file" --compression "$kind" > /dev/null 2>&1
        magic=$(head -c 6 "$file" | od -An -tx1 | tr -d ' \n')
        case $kind in
            zst) [[ $magic == 28b52ffd* ]] ;;
            gz) [[ $magic == 1f8b* ]] ;;
            xz) [[ $magic == fd377a585a00 ]] ;;
            none) [[ $(dd if="$file" bs=1 skip=257 count=5 status=none) == ustar ]] ;;
        esac || fail "$kind: not what --compression asked for (magic $magic)"
        bredmachine import "exsmall-$kind" "$file" --container
        same_tree "$SMALL" "$BRED_MACHINES_DIR/exsmall-$kind"
    done
    # The compression follows the suffix, and '-' writes to standard output.
    bredmachine export exsmall "$HOST/by-suffix.tgz" > /dev/null 2>&1
    [[ $(head -c 2 "$HOST/by-suffix.tgz" | od -An -tx1 | tr -d ' ') == 1f8b ]] || fail ".tgz is not gzip"
    bredmachine export exsmall - --compression none 2> /dev/null | tar -tf - > "$HOST/names"
    assert_contains "$(cat "$HOST/names")" "./root/exp/sub/hard2"
    # The file belongs to who asked for it.
    chown alice "$HOST"
    as_user alice bash -c "cd $HOST && bredmachine --no-ask-password export exsmall alice.tar.zst" > /dev/null 2>&1 ||
        skip_because "alice may not export here"
    assert_eq "$(stat -c %U "$HOST/alice.tar.zst")" alice
    chown root "$HOST"
    daemon_answers
}

test_refusals() {
    bredmachine start ex1
    assert_fails_with "is running" bredmachine export ex1 "$HOST/running.tar"
    [[ ! -e $HOST/running.tar ]] || fail "a refused export left its file"
    daemon_answers
    bredmachine stop ex1
    assert_fails_with "--compression takes" bredmachine export ex1 "$HOST/bad.tar" --compression bz2
    assert_eq "$last_status" 2
    [[ ! -e $HOST/bad.tar ]]
    touch "$HOST/target"
    assert_fails_with "Option 'compression' must be" env METHOD=ExportMachine WRITE=1 OPTION=compression=bz2 \
        python3 "$FD_CALL" ex1 path "$HOST/target"
    daemon_answers
    assert_fails_with "Unknown option 'level'" env METHOD=ExportMachine WRITE=1 OPTION=level=9 \
        python3 "$FD_CALL" ex1 path "$HOST/target"
    daemon_answers
    assert_fails_with "not open for writing" env METHOD=ExportMachine python3 "$FD_CALL" ex1 path "$HOST/target"
    daemon_answers
    assert_fails_with "a terminal" env METHOD=ExportMachine python3 "$FD_CALL" ex1 tty
    assert_fails_with "a directory" env METHOD=ExportMachine python3 "$FD_CALL" ex1 path "$HOST"
    daemon_answers
    assert_fails_with "exists" bredmachine export ex1 "$HOST/target"
    [[ -e $HOST/target ]] || fail "an existing file was removed"
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password export ex1 /tmp/bob.tar
    assert_eq "$last_status" 4
    [[ ! -e /tmp/bob.tar ]] || fail "a refused export left bob's file"
    assert_fails_with "No machine 'nosuch'" bredmachine export nosuch "$HOST/nosuch.tar"
    daemon_answers
    sentinel_untouched
}

test_cancel_leaves_no_file() {
    local pid status=0
    # xz is slow enough to be caught in the middle.
    bredmachine --no-progress export ex1 "$HOST/cancel.tar.xz" > /dev/null 2>&1 &
    pid=$!
    wait_for 30 bash -c "busctl --system call $BRED_BUS_NAME $BRED_BUS_PATH $BRED_MANAGER_IFACE ListJobs |
        grep -q '\"export\"'"
    # While it runs, the machine stays as it is.
    assert_fails_with "busy with another job" bredmachine start ex1
    assert_fails_with "busy with another job" bredmachine remove ex1
    assert_fails_with "busy with another job" bredmachine rename ex1 ex1moved
    kill -TERM "$pid"
    wait "$pid" || status=$?
    ((status != 0)) || fail "the canceled export succeeded"
    [[ ! -e $HOST/cancel.tar.xz ]] || fail "the canceled export left its file"
    wait_for 5 bash -c "! busctl --system call $BRED_BUS_NAME $BRED_BUS_PATH $BRED_MANAGER_IFACE ListJobs |
        grep -q '\"export\"'"
    assert_eq "$(machine_prop ex1 State)" 's "stopped"'
    daemon_answers
    sentinel_untouched
}

run_setup setup teardown
run_test "an export comes back with import --container, entry for entry, and boots" test_round_trip_boots
run_test "zst, gz, xz and none, by option or suffix, to a file or standard output" test_each_compression
run_test "running machines, bad options and descriptors and strangers are refused" test_refusals
run_test "a cancel stops the export and leaves no file" test_cancel_leaves_no_file
run_teardown teardown
