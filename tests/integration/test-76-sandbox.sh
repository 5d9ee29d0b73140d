#!/usr/bin/env bash
# Archives are unpacked by bred-machined-unpack, and downloaded by
# bred-machined-download, confined processes of their own: these tests look
# at running ones from outside (root, mounts, user, capabilities, filter,
# network), feed them hostile archives, kill them, and cancel them, and check
# that only their own job is affected. The unpacker also copies a disk
# image's tree out of the read-only mount the daemon makes for it.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp or /var/tmp: the daemon has private ones (PrivateTmp=yes).
FIXTURES=/srv/bred-sandbox
SENTINEL_DIR=/srv/bred-sandbox-sentinel

# Archives made here: a fake OS tree with enough data that a helper fed part
# of it is still at work, and archives that try to write to the sentinel.
setup() {
    rm -rf "$FIXTURES" "$SENTINEL_DIR"
    mkdir -p "$FIXTURES" "$SENTINEL_DIR"
    echo untouched > "$SENTINEL_DIR/sentinel"
    python3 - "$FIXTURES" "$SENTINEL_DIR" <<'EOF'
import io, os, sys, tarfile
out, sentinel = sys.argv[1], sys.argv[2]

def add(tar, name, data=b"", **kw):
    info = tarfile.TarInfo(name)
    for key, value in kw.items():
        setattr(info, key, value)
    if info.type == tarfile.REGTYPE:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)

def os_tree(tar):
    add(tar, "usr", type=tarfile.DIRTYPE, mode=0o755)
    add(tar, "usr/lib", type=tarfile.DIRTYPE, mode=0o755)
    add(tar, "usr/lib/os-release", b"ID=sandboxed\nNAME=Sandboxed\n")
    add(tar, "etc", type=tarfile.DIRTYPE, mode=0o755)

with tarfile.open(f"{out}/good.tar.gz", "w:gz") as tar:
    os_tree(tar)
    # Incompressible, so that half of the archive is half of the work.
    add(tar, "usr/lib/blob", os.urandom(8 << 20))

hostile = {
    "abs-path": lambda t: add(t, f"{sentinel}/sentinel", b"pwned\n"),
    "dotdot": lambda t: add(t, "../../../../../.." + sentinel + "/sentinel", b"pwned\n"),
    "symlink-escape": lambda t: (add(t, "escape", type=tarfile.SYMTYPE, linkname=sentinel),
                                 add(t, "escape/sentinel", b"pwned\n")),
    "symlink-then-file": lambda t: (add(t, "dir", type=tarfile.DIRTYPE, mode=0o755),
                                    add(t, "dir/link", type=tarfile.SYMTYPE, linkname=f"{sentinel}/sentinel"),
                                    add(t, "dir/link", b"pwned\n")),
    "hardlink-escape": lambda t: add(t, "hard", type=tarfile.LNKTYPE, linkname=f"{sentinel}/sentinel"),
}
for name, build in hostile.items():
    with tarfile.open(f"{out}/{name}.tar.gz", "w:gz") as tar:
        os_tree(tar)
        build(tar)
EOF
    python3 "$(dirname "${BASH_SOURCE[0]}")/fixtures/serve.py" --root "$FIXTURES" --port 0 \
        > "$SENTINEL_DIR.serve" 2> /dev/null &
    SERVER_PID=$!
    wait_for 10 grep -q '^PORT=' "$SENTINEL_DIR.serve"
    BASE=http://127.0.0.1:$(sed -n 's/^PORT=//p' "$SENTINEL_DIR.serve")
    make_disk_image_archive
}

# disk.tar: one disk.raw whose GPT root partition (generic Linux, ext4) holds
# an OS tree with enough data that its copy takes a moment, a setuid program,
# /dev/null, and a block device outside /dev.
make_disk_image_archive() {
    local src=$FIXTURES/disk-src part=$FIXTURES/root.img raw=$FIXTURES/disk.raw
    mkdir -p "$src/usr/lib" "$src/usr/bin" "$src/etc" "$src/dev" "$src/srv"
    printf 'ID=sandboxed\nNAME=Sandboxed\n' > "$src/usr/lib/os-release"
    head -c $((64 << 20)) /dev/urandom > "$src/usr/lib/blob"
    ln "$src/usr/lib/blob" "$src/usr/lib/blob-link"
    printf 'not run\n' > "$src/usr/bin/setuid-tool"
    chmod 4755 "$src/usr/bin/setuid-tool"
    mknod "$src/dev/null" c 1 3
    mknod "$src/srv/disk" b 7 200
    truncate -s 96M "$part"
    mkfs.ext4 -q -F -b 4096 -d "$src" "$part"
    # 1 MiB before the partition, and room after it for the backup GPT.
    truncate -s 98M "$raw"
    sfdisk --quiet --no-reread --no-tell-kernel "$raw" <<SFDISK
label: gpt
unit: sectors
start=2048, size=$((96 * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
SFDISK
    dd if="$part" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
    tar --create --sparse -C "$FIXTURES" -f "$FIXTURES/disk.tar" disk.raw
    rm -rf "$src" "$part" "$raw"
}
teardown() {
    kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$FIXTURES" "$SENTINEL_DIR" "$SENTINEL_DIR.serve"
}

# Its name is longer than a process name (15 bytes): matched on its command
# line, whose first argument is the work directory.
helper_pid() { pgrep -f -- '/bred-machined-unpack /'; }

job_of() {
    bus_call --json=short ListJobs | jq -r --arg m "$1" '.data[0][] | select(.[2] == $m) | .[0]'
}

# start_slow_import NAME: imports good.tar.gz from a pipe that gets half of
# it and then stays open (descriptor 7 of the test), so the helper is busy
# until the test decides; sets HELPER_PID and CLIENT_PID, the client's
# output in $FIXTURES/NAME.out.
start_slow_import() {
    local name=$1 fifo=$FIXTURES/$1.fifo size
    remove_machine_dirs "$name"
    rm -f "$fifo"
    mkfifo "$fifo"
    bredmachine import "$name" - < "$fifo" > "$FIXTURES/$name.out" 2>&1 &
    CLIENT_PID=$!
    exec 7> "$fifo"
    size=$(stat -c %s "$FIXTURES/good.tar.gz")
    head -c $((size / 2)) "$FIXTURES/good.tar.gz" >&7
    wait_for 10 helper_pid > /dev/null
    HELPER_PID=$(helper_pid)
    # Half of the archive unpacked: the helper waits for the rest.
    wait_for 10 bash -c "[[ \$(stat -c %s $BRED_MACHINES_DIR/.#bred-create-$name-*/unpacked/usr/lib/blob 2>/dev/null) -gt 0 ]]"
}

test_confined_while_unpacking() {
    start_slow_import confined
    local pid=$HELPER_PID daemon
    daemon=$(systemctl show -P MainPID bred-machined.service)
    # Its whole file system is the job's work directory, without devices,
    # setuid or exec, and its own descriptors at /proc/self/fd; the host's
    # tree is not in its mount namespace.
    # shellcheck disable=SC2012 # the names are ours, and ls sorts them
    assert_eq "$(ls -A "/proc/$pid/root" | paste -sd' ')" "proc unpacked"
    # shellcheck disable=SC2012 # the names are ours, and ls sorts them
    assert_eq "$(ls -A "/proc/$pid/root/proc" | paste -sd' ')" self
    assert_eq "$(cut -d' ' -f5 "/proc/$pid/mountinfo" | paste -sd' ')" "/ /proc/self/fd"
    assert_contains "$(head -n1 "/proc/$pid/mountinfo")" "nosuid,nodev,noexec"
    assert_ne "$(readlink "/proc/$pid/ns/mnt")" "$(readlink "/proc/$daemon/ns/mnt")"
    assert_ne "$(readlink "/proc/$pid/ns/ipc")" "$(readlink "/proc/$daemon/ns/ipc")"
    # CHOWN DAC_OVERRIDE FOWNER FSETID MKNOD SETFCAP, and nothing to regain more.
    local status
    status=$(cat "/proc/$pid/status")
    for field in CapBnd CapPrm CapEff; do
        assert_eq "$(sed -n "s/^$field:\t//p" <<< "$status")" 000000008800001b
    done
    assert_eq "$(sed -n 's/^CapAmb:\t//p' <<< "$status")" 0000000000000000
    assert_eq "$(sed -n 's/^NoNewPrivs:\t//p' <<< "$status")" 1
    assert_eq "$(sed -n 's/^Seccomp:\t//p' <<< "$status")" 2
    assert_contains "$(grep 'Max address space' "/proc/$pid/limits")" 4294967296
    # Nothing open but pipes (the archive, the report, the decompressor's), the
    # journal's stream, and what it unpacks.
    assert_eq "$(for fd in "/proc/$pid/fd/"*; do readlink "$fd"; done |
        grep -v -E '^((pipe|socket):\[|/unpacked(/|$))' || true)" ""
    # Let it finish: the template is made as before.
    tail -c +$(($(stat -c %s "$FIXTURES/good.tar.gz") / 2 + 1)) "$FIXTURES/good.tar.gz" >&7
    exec 7>&-
    wait "$CLIENT_PID" || { cat "$FIXTURES/confined.out"; return 1; }
    assert_contains "$(cat "$BRED_MACHINES_DIR/confined/usr/lib/os-release")" ID=sandboxed
    no_leftovers
    remove_machine_dirs confined
}

test_no_network() {
    start_slow_import offline
    local pid=$HELPER_PID daemon port
    daemon=$(systemctl show -P MainPID bred-machined.service)
    assert_ne "$(readlink "/proc/$pid/ns/net")" "$(readlink "/proc/$daemon/ns/net")"
    # Only a loopback device, and it is down.
    assert_eq "$(tail -n +3 "/proc/$pid/net/dev" | cut -d: -f1 | tr -d ' ')" lo
    # A server on the host's loopback is out of reach from its network namespace.
    python3 -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
print(s.getsockname()[1], flush=True)
s.settimeout(5)
try:
    s.accept(); print("connected", flush=True)
except socket.timeout:
    print("nobody", flush=True)' > "$FIXTURES/listener.out" &
    local listener=$!
    wait_for 5 grep -q . "$FIXTURES/listener.out"
    port=$(head -n1 "$FIXTURES/listener.out")
    assert_fails nsenter --net="/proc/$pid/ns/net" python3 -c "import socket
socket.create_connection(('127.0.0.1', $port), timeout=2)"
    wait "$listener"
    assert_eq "$(tail -n1 "$FIXTURES/listener.out")" nobody
    exec 7>&-
    wait "$CLIENT_PID" || true
    remove_machine_dirs offline
    no_leftovers
}

test_hostile_archives_leave_the_host_alone() {
    local before archive message
    before=$(sha256sum "$SENTINEL_DIR/sentinel")
    while read -r archive message; do
        remove_machine_dirs hostile
        assert_fails_with "$message" bredmachine import hostile "$FIXTURES/$archive.tar.gz"
        [[ ! -e $BRED_MACHINES_DIR/hostile ]]
        no_leftovers
    done <<'EOF'
abs-path absolute
dotdot '..'
symlink-escape Cannot unpack
hardlink-escape absolute hard link target
EOF
    # A file over a symlink replaces the symlink, never writes through it.
    remove_machine_dirs hostile
    assert_ok bredmachine import hostile "$FIXTURES/symlink-then-file.tar.gz"
    [[ -f $BRED_MACHINES_DIR/hostile/dir/link && ! -L $BRED_MACHINES_DIR/hostile/dir/link ]]
    remove_machine_dirs hostile
    assert_eq "$(sha256sum "$SENTINEL_DIR/sentinel")" "$before"
    assert_eq "$(ls -A "$SENTINEL_DIR")" sentinel
}

# job_failed_with NAME MESSAGE: the client of NAME's job ($CLIENT_PID) failed
# saying MESSAGE, and nothing was made under NAME.
job_failed_with() {
    wait_for 5 grep -q "$2" "$FIXTURES/$1.out"
    if wait "$CLIENT_PID"; then
        fail "the job succeeded: $(cat "$FIXTURES/$1.out")"
    fi
    cat "$FIXTURES/$1.out"
    [[ ! -e $BRED_MACHINES_DIR/$1 ]]
}

test_crash_fails_only_its_job() {
    start_slow_import crashed
    kill -SEGV "$HELPER_PID"
    # The job fails at once, while its source is still open.
    job_failed_with crashed "killed by SIGSEGV"
    exec 7>&-
    no_leftovers
    # The daemon still answers, and the next job succeeds.
    bus_call ListMachines > /dev/null
    remove_machine_dirs after-crash
    assert_ok bredmachine import after-crash "$FIXTURES/good.tar.gz"
    assert_contains "$(cat "$BRED_MACHINES_DIR/after-crash/usr/lib/os-release")" ID=sandboxed
    remove_machine_dirs after-crash
}

# cancel_stopped_helper MACHINE: stops the helper $HELPER_PID, cancels the
# job of MACHINE, and checks that the helper is gone within a second and the
# job soon after.
cancel_stopped_helper() {
    local id start elapsed
    id=$(job_of "$1")
    [[ -n $id ]]
    # Stopped, it cannot act on SIGTERM: only the SIGKILL that follows ends it.
    kill -STOP "$HELPER_PID"
    start=$(date +%s%N)
    bredmachine cancel "$id"
    # Polled more often than wait_for does: the time is what is checked.
    while kill -0 "$HELPER_PID" 2>/dev/null && (($(date +%s%N) - start < 3000000000)); do
        sleep 0.02
    done
    elapsed=$((($(date +%s%N) - start) / 1000000))
    ((elapsed < 1000)) || { echo "the helper was still there after $elapsed ms"; return 1; }
    echo "the helper was gone after $elapsed ms"
    wait_for 2 job_gone "$id"
}

test_cancel_stops_it_within_a_second() {
    start_slow_import canceled
    cancel_stopped_helper canceled
    exec 7>&-
    wait "$CLIENT_PID" || true
    [[ ! -e $BRED_MACHINES_DIR/canceled ]]
    no_leftovers
}

download_pid() { pgrep -f -- '/bred-machined-download http'; }
no_helper_left() { ! helper_pid && ! download_pid; }

# start_stalled_download NAME: a download that gets half of good.tar.gz and
# then nothing; sets HELPER_PID and CLIENT_PID, the client's output in
# $FIXTURES/NAME.out.
start_stalled_download() {
    local name=$1
    remove_machine_dirs "$name"
    bredmachine create-template "$name" --url "$BASE/_stall/good.tar.gz" --verify=no \
        > "$FIXTURES/$name.out" 2>&1 &
    CLIENT_PID=$!
    wait_for 10 download_pid > /dev/null
    HELPER_PID=$(download_pid)
}

# Cancels the job of machine $1 and waits until no downloader is left.
end_download() {
    local id
    id=$(job_of "$1")
    [[ -z $id ]] || bredmachine cancel "$id" > /dev/null 2>&1 || true
    wait_for 5 no_helper_left
    wait "$CLIENT_PID" 2>/dev/null || true
}

test_download_confined() {
    start_stalled_download fetched
    # Each test runs in a subshell of its own: this ends the download on any failure too.
    trap 'end_download fetched' EXIT
    local pid=$HELPER_PID daemon status
    daemon=$(systemctl show -P MainPID bred-machined.service)
    # nobody, without a capability or a way to gain one, in mount and IPC
    # namespaces of its own where the host's tree is read-only.
    status=$(cat "/proc/$pid/status")
    assert_eq "$(sed -n 's/^Uid:\t//p' <<< "$status" | tr -s '\t' ' ')" "65534 65534 65534 65534"
    assert_eq "$(sed -n 's/^Groups:\t//p' <<< "$status" | tr -d ' \t')" ""
    for field in CapPrm CapEff CapAmb; do
        assert_eq "$(sed -n "s/^$field:\t//p" <<< "$status")" 0000000000000000
    done
    assert_eq "$(sed -n 's/^NoNewPrivs:\t//p' <<< "$status")" 1
    assert_eq "$(sed -n 's/^Seccomp:\t//p' <<< "$status")" 2
    assert_contains "$(grep 'Max address space' "/proc/$pid/limits")" 1073741824
    assert_ne "$(readlink "/proc/$pid/ns/mnt")" "$(readlink "/proc/$daemon/ns/mnt")"
    assert_ne "$(readlink "/proc/$pid/ns/ipc")" "$(readlink "/proc/$daemon/ns/ipc")"
    # Every mount it sees is read-only, without devices or setuid.
    assert_eq "$(awk '$6 !~ /(^|,)ro(,|$)/ || $6 !~ /nosuid/ || $6 !~ /nodev/' "/proc/$pid/mountinfo")" ""
    # Nothing open but /dev/null (its input), the body's and the report's
    # pipes, the journal's stream, its connection, and the eventfd newer
    # libcurl (Debian 13's) makes to wake its own transfer loop; the helper
    # closes everything else it might inherit before it starts.
    assert_eq "$(for fd in "/proc/$pid/fd/"*; do readlink "$fd"; done |
        grep -v -E '^((pipe|socket):\[|/dev/null$|anon_inode:\[eventfd\]$)' || true)" ""
    # The daemon itself no longer links libcurl.
    assert_eq "$(grep -c libcurl "/proc/$daemon/maps" || true)" 0
    end_download fetched
    trap - EXIT
    no_leftovers
}

test_download_crash_fails_only_its_job() {
    start_stalled_download dlcrash
    kill -SEGV "$HELPER_PID"
    job_failed_with dlcrash "bred-machined-download was killed by SIGSEGV"
    wait_for 5 no_helper_left
    no_leftovers
    bus_call ListMachines > /dev/null
    remove_machine_dirs after-dlcrash
    assert_ok bredmachine create-template after-dlcrash --url "$BASE/good.tar.gz" --verify=no
    assert_contains "$(cat "$BRED_MACHINES_DIR/after-dlcrash/usr/lib/os-release")" ID=sandboxed
    remove_machine_dirs after-dlcrash
}

test_download_cancel_within_a_second() {
    start_stalled_download dlcancel
    cancel_stopped_helper dlcancel
    wait "$CLIENT_PID" || true
    [[ ! -e $BRED_MACHINES_DIR/dlcancel ]]
    no_leftovers
}

# stop_disk_copier NAME: the helper copying the disk image's tree for the
# import of NAME (its mode is the third argument after the program, its work
# directory the first), stopped as soon as it has dropped its capabilities
# (after pivot_root; a seccomp filter it inherits from the daemon), before it
# has copied 64 MiB; prints its pid.
stop_disk_copier() {
    python3 - "$1" <<'PY'
import os, signal, sys, time
work = f"/.#bred-create-{sys.argv[1]}-".encode()

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""

deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        args = read(f"/proc/{pid}/cmdline").split(b"\0")
        if not (args[0].endswith(b"/bred-machined-unpack") and len(args) > 5 and work in args[1] and
                args[3:6] == [b"copy", b"disk-root", b"tree"]):
            continue
        while (status := read(f"/proc/{pid}/status")) and b"CapEff:\t000000008800001b" not in status:
            pass
        os.kill(int(pid), signal.SIGSTOP)
        print(pid)
        sys.exit(0)
sys.exit("no helper copied the disk image's tree")
PY
}

test_disk_image_copied_by_the_helper() {
    remove_machine_dirs diskcopy
    stop_disk_copier diskcopy > "$FIXTURES/copier.pid" &
    local watcher=$! pid daemon dir=$BRED_MACHINES_DIR/diskcopy out
    bredmachine import diskcopy "$FIXTURES/disk.tar" > "$FIXTURES/diskcopy.out" 2>&1 &
    CLIENT_PID=$!
    wait "$watcher" || { cat "$FIXTURES/diskcopy.out"; return 1; }
    pid=$(cat "$FIXTURES/copier.pid")
    daemon=$(systemctl show -P MainPID bred-machined.service)
    # The daemon mounted the partition read-only inside the work directory;
    # the helper, confined as for archives, sees it there, still read-only,
    # and disk.raw no longer (it is unlinked while mounted).
    local work
    work=$(printf '%s\n' "$BRED_MACHINES_DIR"/.#bred-create-diskcopy-*)
    assert_contains "$(grep " $work/disk-root " "/proc/$daemon/mountinfo")" "ro,nosuid,nodev,noexec"
    # shellcheck disable=SC2012 # the names are ours, and ls sorts them
    assert_eq "$(ls -A "/proc/$pid/root" | paste -sd' ')" "disk-root proc tree unpacked"
    [[ -z $(ls -A "/proc/$pid/root/unpacked") ]]
    assert_eq "$(cut -d' ' -f5 "/proc/$pid/mountinfo" | paste -sd' ')" "/ /disk-root /proc/self/fd"
    assert_contains "$(grep ' /disk-root ' "/proc/$pid/mountinfo")" "ro,nosuid,nodev,noexec"
    assert_ne "$(readlink "/proc/$pid/ns/mnt")" "$(readlink "/proc/$daemon/ns/mnt")"
    local status
    status=$(cat "/proc/$pid/status")
    assert_eq "$(sed -n 's/^CapEff:\t//p' <<< "$status")" 000000008800001b
    assert_eq "$(sed -n 's/^Seccomp:\t//p' <<< "$status")" 2
    kill -CONT "$pid"
    wait "$CLIENT_PID" || { cat "$FIXTURES/diskcopy.out"; return 1; }
    out=$(cat "$FIXTURES/diskcopy.out")
    echo "$out"
    assert_contains "$out" "Copying the tree out of partition 1 of disk.raw."
    # Copied as before: the setuid bit, hard links, /dev's nodes; a node elsewhere left out.
    assert_contains "$out" "Left out the device node /srv/disk"
    [[ ! -e $dir/srv/disk ]]
    assert_eq "$(stat -c '%a %u' "$dir/usr/bin/setuid-tool")" "4755 0"
    assert_eq "$(stat -c '%F %t,%T' "$dir/dev/null")" "character special file 1,3"
    assert_eq "$(stat -c %i "$dir/usr/lib/blob")" "$(stat -c %i "$dir/usr/lib/blob-link")"
    assert_contains "$(cat "$dir/usr/lib/os-release")" ID=sandboxed
    # Unmounted, and the loop device freed.
    assert_not_contains "$(cat "/proc/$daemon/mountinfo")" disk-root
    assert_not_contains "$(losetup --list --noheadings -O BACK-FILE)" disk.raw
    no_leftovers
    remove_machine_dirs diskcopy
}

test_disk_image_cancel_unmounts() {
    remove_machine_dirs diskcancel
    stop_disk_copier diskcancel > "$FIXTURES/copier.pid" &
    local watcher=$! pid daemon id
    bredmachine import diskcancel "$FIXTURES/disk.tar" > "$FIXTURES/diskcancel.out" 2>&1 &
    CLIENT_PID=$!
    wait "$watcher" || { cat "$FIXTURES/diskcancel.out"; return 1; }
    pid=$(cat "$FIXTURES/copier.pid")
    daemon=$(systemctl show -P MainPID bred-machined.service)
    id=$(job_of diskcancel)
    [[ -n $id ]]
    bredmachine cancel "$id"
    wait_for 2 job_gone "$id"
    if kill -0 "$pid" 2> /dev/null; then
        fail "the helper was still there after the cancel"
    fi
    wait "$CLIENT_PID" || true
    [[ ! -e $BRED_MACHINES_DIR/diskcancel ]]
    assert_not_contains "$(cat "/proc/$daemon/mountinfo")" disk-root
    assert_not_contains "$(losetup --list --noheadings -O BACK-FILE)" disk.raw
    no_leftovers
}

run_setup setup teardown
run_test "the helper is confined to the work directory while it unpacks" test_confined_while_unpacking
run_test "the helper has no network" test_no_network
run_test "hostile archives fail and the host's files stay as they were" test_hostile_archives_leave_the_host_alone
run_test "a helper killed by SIGSEGV fails only its job" test_crash_fails_only_its_job
run_test "cancel ends a stopped helper within a second" test_cancel_stops_it_within_a_second
run_test "the downloader runs as nobody on a read-only host, without capabilities" test_download_confined
run_test "a downloader killed by SIGSEGV fails only its job" test_download_crash_fails_only_its_job
run_test "cancel ends a stopped downloader within a second" test_download_cancel_within_a_second
run_test "a disk image's tree is copied by the helper from a read-only mount" test_disk_image_copied_by_the_helper
run_test "cancel during a disk image's copy unmounts it and frees the loop device" test_disk_image_cancel_unmounts
run_teardown teardown
