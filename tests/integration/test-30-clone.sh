#!/usr/bin/env bash
# Clone for real: an exact copy entry by entry, a new machine rather than a
# twin, atomic under cancel and a full filesystem, and safe in parallel.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


wait_listed() { wait_for 10 bash -c "bredmachine list | grep -q '^$1 '"; }

# A tree holding every kind of entry and metadata a rootfs has.
make_rich_tree() {
    local d=$BRED_MACHINES_DIR/$1
    remove_machine_dirs "$1"
    mkdir -p "$d/usr/lib" "$d/etc" "$d/usr/bin" "$d/tmp" "$d/dev" "$d/.hidden/sub" "$d/var/empty"
    printf 'ID=richos\nPRETTY_NAME="Rich OS"\n' > "$d/usr/lib/os-release"
    ln -s ../usr/lib/os-release "$d/etc/os-release"
    echo 0123456789abcdef0123456789abcdef > "$d/etc/machine-id"
    echo source-host > "$d/etc/hostname"
    cp /bin/dash "$d/usr/bin/sh"
    chmod 4755 "$d/usr/bin/sh"
    cp /bin/true "$d/usr/bin/setgid"
    chmod 2711 "$d/usr/bin/setgid"
    chmod 1777 "$d/tmp"
    echo linked > "$d/usr/bin/hard-a"
    ln "$d/usr/bin/hard-a" "$d/usr/bin/hard-b"
    ln "$d/usr/bin/hard-a" "$d/.hidden/hard-c"
    cp /bin/true "$d/usr/bin/ping-like"
    setcap cap_net_raw+ep "$d/usr/bin/ping-like"
    mknod "$d/dev/null-like" c 1 3
    mknod "$d/dev/block-like" b 7 200
    mkfifo "$d/dev/fifo"
    python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.bind('$d/dev/socket')"
    ln -s /nonexistent/target "$d/dangling"
    ln -s ../../../../etc/shadow "$d/.hidden/escape"
    chown -h 4242:4243 "$d/usr/bin/hard-a" "$d/dangling" "$d/.hidden"
    setfacl -m u:4242:rwx,d:g:4243:rx "$d/.hidden/sub"
    setfattr -n user.note -v "kept" "$d/.hidden/file" 2> /dev/null || { echo x > "$d/.hidden/file"; setfattr -n user.note -v kept "$d/.hidden/file"; }
    echo dot > "$d/.dotfile"
    truncate -s 256M "$d/var/sparse"
    printf 'middle' | dd of="$d/var/sparse" bs=1 seek=100000000 conv=notrunc status=none
    touch -h -d '2001-02-03 04:05:06.123456789' "$d/dangling" "$d/.dotfile" "$d/var/empty"
}

# One line per entry with everything the copy must keep (link counts via the inode groups).
describe_tree() {
    (cd "$1" && find . -printf '%p %y %m %U:%G %s %T@ %l\n' | grep -v -e '^./etc/machine-id ' -e '^./etc/hostname ' -e '^./etc ' | sort)
    (cd "$1" && find . -type f -links +1 -printf '%i %p\n' | sort | awk '{print $2}' | xargs -r stat -c '%h %n' | sort)
    (cd "$1" && getfacl -R -n -p . 2>/dev/null | sort)
    (cd "$1" && getfattr -R -d -m - -h . 2>/dev/null | grep -v '^# file' | sort)
    (cd "$1" && find . -type f -exec getcap {} + 2>/dev/null | sort)
    (cd "$1" && find . \( -type b -o -type c \) -exec stat -c '%n %t:%T' {} + | sort)
}

test_clone_is_exact() {
    make_rich_tree rich
    remove_machine_dirs rich2
    wait_listed rich
    local out
    out=$(bredmachine clone rich rich2 2>&1)
    assert_contains "$out" "'rich2' is ready"
    # The job's journal lines carry the machine and the job's id.
    wait_for 5 bash -c "journalctl -u bred-machined MACHINE=rich2 -o cat | grep -q \"'rich2' is ready\""
    assert_contains "$(journalctl -u bred-machined MACHINE=rich2 -o verbose)" "JOB="
    diff <(describe_tree "$BRED_MACHINES_DIR/rich") <(describe_tree "$BRED_MACHINES_DIR/rich2")
    # Holes stay holes.
    (($(du -k "$BRED_MACHINES_DIR/rich2/var/sparse" | cut -f1) < 1024)) || { echo "the sparse file was filled"; return 1; }
    cmp "$BRED_MACHINES_DIR/rich/var/sparse" "$BRED_MACHINES_DIR/rich2/var/sparse"
    # A new machine, not a twin.
    assert_eq "$(stat -c %s "$BRED_MACHINES_DIR/rich2/etc/machine-id")" 0
    assert_eq "$(cat "$BRED_MACHINES_DIR/rich2/etc/hostname")" rich2
    assert_eq "$(cat "$BRED_MACHINES_DIR/rich/etc/hostname")" source-host
    assert_eq "$(machine_prop rich2 Class)" 's "container"'
    # Settings stay behind unless asked for.
    printf '[Network]\nVirtualEthernet=yes\n' > /etc/systemd/nspawn/rich.nspawn
    remove_machine_dirs rich3 rich4
    bredmachine clone rich rich3 > /dev/null 2>&1
    # Only the settings every container gets, so that machinectl starts it as bredmachine does.
    assert_not_contains "$(cat /etc/systemd/nspawn/rich3.nspawn)" "VirtualEthernet=yes"
    assert_contains "$(cat /etc/systemd/nspawn/rich3.nspawn)" "PrivateUsers=no"
    bredmachine clone rich rich4 --settings > /dev/null 2>&1
    cmp -n "$(stat -c %s /etc/systemd/nspawn/rich.nspawn)" /etc/systemd/nspawn/rich.nspawn \
        /etc/systemd/nspawn/rich4.nspawn
    assert_contains "$(cat /etc/systemd/nspawn/rich4.nspawn)" "PrivateUsers=no"
    remove_machine_dirs rich3 rich4
    no_leftovers
}

test_clone_of_template_is_writable_and_template_option() {
    make_rich_tree tsrc
    chattr +i "$BRED_MACHINES_DIR/tsrc"
    remove_machine_dirs tclone ttmpl
    wait_listed tsrc
    bredmachine clone tsrc tclone > /dev/null 2>&1
    assert_eq "$(machine_prop tclone Class)" 's "container"'
    touch "$BRED_MACHINES_DIR/tclone/writable"
    bredmachine clone tsrc ttmpl --template > /dev/null 2>&1
    wait_for 5 bash -c "busctl --system get-property $BRED_BUS_NAME $(machine_path ttmpl) org.bredos.machine1.Machine Class | grep -q template"
    assert_fails touch "$BRED_MACHINES_DIR/ttmpl/not-writable"
    remove_machine_dirs tsrc tclone ttmpl
}

test_clone_errors() {
    make_rich_tree esrc
    make_fake_os_tree etaken > /dev/null
    wait_listed esrc
    wait_listed etaken
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Clone nosuch x '{}'
    assert_fails_with org.bredos.machine1.Error.AlreadyExists gcall Clone esrc etaken '{}'
    assert_fails_with org.bredos.machine1.Error.InvalidName gcall Clone esrc 'bad..name' '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Clone esrc x "{'colour': <'red'>}"
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password clone esrc bobs
    [[ ! -e $BRED_MACHINES_DIR/bobs ]]
    assert_ok as_user alice bredmachine --no-ask-password clone esrc alices
    remove_machine_dirs esrc etaken alices
}

test_running_source_is_busy() {
    make_rich_tree running1
    wait_listed running1
    register_running running1
    assert_fails_with org.bredos.machine1.Error.Busy gcall Clone running1 copy1 '{}'
    unregister_running running1
    [[ ! -e $BRED_MACHINES_DIR/copy1 ]]
    remove_machine_dirs running1
}

test_cancel_leaves_nothing() {
    remove_machine_dirs big bigcopy
    make_fake_os_tree big > /dev/null
    # Real data, so the copy takes a while.
    dd if=/dev/zero of="$BRED_MACHINES_DIR/big/blob" bs=1M count=1500 status=none
    wait_listed big
    local id
    id=$(gcall Clone big bigcopy '{}' | sed -E 's/^\(uint32 ([0-9]+),.*/\1/')
    sleep 0.3
    local start end
    start=$(date +%s%N)
    bredmachine cancel "$id"
    wait_for 5 job_gone "$id"
    end=$(date +%s%N)
    (((end - start) / 1000000 < 1500)) || { echo "cancel took $(((end - start) / 1000000)) ms"; return 1; }
    [[ ! -e $BRED_MACHINES_DIR/bigcopy ]]
    no_leftovers
    assert_eq "$(stat -c %s "$BRED_MACHINES_DIR/big/blob")" $((1500 * 1024 * 1024))
    remove_machine_dirs big
}

full_filesystem_clone() {
    make_fake_os_tree full > /dev/null
    dd if=/dev/urandom of="$BRED_MACHINES_DIR/full/blob" bs=1M count=40 status=none
    local sum
    sum=$(sha256sum < "$BRED_MACHINES_DIR/full/blob")
    bus_call ListMachines > /dev/null
    wait_listed full
    assert_fails_with "No space left" bredmachine clone full fullcopy
    [[ ! -e $BRED_MACHINES_DIR/fullcopy ]]
    no_leftovers
    # The source is untouched.
    assert_eq "$(sha256sum < "$BRED_MACHINES_DIR/full/blob")" "$sum"
}

test_full_filesystem_leaves_nothing() {
    # A small filesystem as the machines directory for this test only.
    local saved=/var/lib/machines.saved
    systemctl stop bred-machined.service
    mv "$BRED_MACHINES_DIR" "$saved"
    mkdir "$BRED_MACHINES_DIR"
    mount -t tmpfs -o size=64m tmpfs "$BRED_MACHINES_DIR"
    local status
    capture_status status full_filesystem_clone
    systemctl stop bred-machined.service
    umount "$BRED_MACHINES_DIR"
    rmdir "$BRED_MACHINES_DIR"
    mv "$saved" "$BRED_MACHINES_DIR"
    return "$status"
}

test_parallel_clones() {
    make_rich_tree psrc
    wait_listed psrc
    local i pids=()
    remove_machine_dirs p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 same
    for i in $(seq 1 10); do
        bredmachine clone psrc "p$i" > "/tmp/bred-clone-$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    for i in $(seq 1 10); do
        diff <(describe_tree "$BRED_MACHINES_DIR/psrc") <(describe_tree "$BRED_MACHINES_DIR/p$i")
    done
    # Two into the same name: exactly one wins.
    bredmachine clone psrc same > /tmp/bred-same-1.log 2>&1 & local a=$!
    bredmachine clone psrc same > /tmp/bred-same-2.log 2>&1 & local b=$!
    local ra=0 rb=0
    wait "$a" || ra=$?
    wait "$b" || rb=$?
    assert_eq "$(( (ra == 0) + (rb == 0) ))" 1 "exactly one clone into 'same' should succeed"
    grep -q -e Busy -e busy -e "already exists" /tmp/bred-same-*.log
    no_leftovers
    remove_machine_dirs psrc p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 same
}

# with_pool FSTYPE MKFS-ARGS... -- CMD...: runs CMD with the machines directory on
# a fresh loop-mounted filesystem of FSTYPE, the daemon restarted onto it.
with_pool() {
    local fstype=$1 image=/srv/bred-pool.img saved=/var/lib/machines.saved
    shift
    local mkfs_args=()
    while [[ $1 != -- ]]; do mkfs_args+=("$1"); shift; done
    shift
    rm -f "$image"
    truncate -s 3G "$image"
    "mkfs.$fstype" -q "${mkfs_args[@]}" "$image" > /dev/null
    systemctl stop bred-machined.service
    mv "$BRED_MACHINES_DIR" "$saved"
    mkdir "$BRED_MACHINES_DIR"
    local status=1
    if mount -o loop -t "$fstype" "$image" "$BRED_MACHINES_DIR"; then
        capture_status status pool_body "$@"
        systemctl stop bred-machined.service
        find "$BRED_MACHINES_DIR" -maxdepth 1 -mindepth 1 -exec chattr -i {} + 2> /dev/null || true
        umount "$BRED_MACHINES_DIR"
    fi
    rmdir "$BRED_MACHINES_DIR"
    mv "$saved" "$BRED_MACHINES_DIR"
    rm -f "$image"
    return $status
}

pool_body() {
    bus_call ListMachines > /dev/null
    "$@"
}

# require_filesystem TYPE: skip unless the kernel has TYPE. A module cannot be
# loaded from inside the testbed; run-testbed loads btrfs and xfs on the host
# before it boots.
require_filesystem() {
    grep -qw "$1" /proc/filesystems || skip_because "the host kernel has no $1 (run-testbed could not load it)"
    command -v "mkfs.$1" > /dev/null || fail "mkfs.$1 is missing from the testbed"
}

btrfs_clones() {
    make_rich_tree bsrc
    dd if=/dev/urandom of="$BRED_MACHINES_DIR/bsrc/var/blob" bs=1M count=400 status=none
    wait_listed bsrc
    # A plain directory on btrfs: files are reflinked, and the clone is a subvolume.
    bredmachine clone bsrc bcopy --template > /dev/null 2>&1
    diff <(describe_tree "$BRED_MACHINES_DIR/bsrc") <(describe_tree "$BRED_MACHINES_DIR/bcopy")
    btrfs subvolume show "$BRED_MACHINES_DIR/bcopy" > /dev/null
    assert_eq "$(btrfs property get -ts "$BRED_MACHINES_DIR/bcopy" ro)" "ro=true"
    # A template that is a subvolume clones as a snapshot, in constant time.
    local out start end
    start=$(date +%s%N)
    out=$(bredmachine clone bcopy bsnap 2>&1)
    end=$(date +%s%N)
    assert_contains "$out" "btrfs snapshot"
    echo "snapshot clone of 400 MiB took $(((end - start) / 1000000)) ms"
    (((end - start) / 1000000 < 2000)) || fail "a snapshot clone should take under 2 s"
    assert_eq "$(btrfs property get -ts "$BRED_MACHINES_DIR/bsnap" ro)" "ro=false"
    diff <(describe_tree "$BRED_MACHINES_DIR/bsrc") <(describe_tree "$BRED_MACHINES_DIR/bsnap")
    assert_eq "$(cat "$BRED_MACHINES_DIR/bsnap/etc/hostname")" bsnap
    touch "$BRED_MACHINES_DIR/bsnap/writable"
    bredmachine remove bsnap > /dev/null 2>&1
    bredmachine remove bcopy > /dev/null 2>&1
    no_leftovers
}

test_btrfs() {
    require_filesystem btrfs
    with_pool btrfs -- btrfs_clones
}

xfs_clones() {
    make_rich_tree xsrc
    dd if=/dev/urandom of="$BRED_MACHINES_DIR/xsrc/var/blob" bs=1M count=400 status=none
    sync
    wait_listed xsrc
    local before after
    before=$(df --output=used -k "$BRED_MACHINES_DIR" | tail -1)
    bredmachine clone xsrc xcopy > /dev/null 2>&1
    sync
    after=$(df --output=used -k "$BRED_MACHINES_DIR" | tail -1)
    diff <(describe_tree "$BRED_MACHINES_DIR/xsrc") <(describe_tree "$BRED_MACHINES_DIR/xcopy")
    cmp "$BRED_MACHINES_DIR/xsrc/var/blob" "$BRED_MACHINES_DIR/xcopy/var/blob"
    # Reflinked: the 400 MiB are shared, not written again.
    echo "space used by the clone: $((after - before)) KiB"
    ((after - before < 50 * 1024)) || fail "the clone should share its data through reflinks"
    no_leftovers
}

test_xfs() {
    require_filesystem xfs
    with_pool xfs -m reflink=1 -- xfs_clones
}

run_test "a clone is exact, entry by entry, and a new machine" test_clone_is_exact
run_test "a template's clone is writable; --template makes a template" test_clone_of_template_is_writable_and_template_option
run_test "clone errors: names, options, polkit" test_clone_errors
run_test "cloning a running container is Busy" test_running_source_is_busy
run_test "cancel stops within a second and leaves nothing" test_cancel_leaves_nothing
run_test "a full filesystem fails the clone and leaves nothing" test_full_filesystem_leaves_nothing
run_test "ten clones in parallel; two into one name, one wins" test_parallel_clones
run_test "btrfs: subvolumes, read-only templates, snapshot clones" test_btrfs
run_test "xfs: clones share their data through reflinks" test_xfs
