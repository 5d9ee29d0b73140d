#!/usr/bin/env bash
# Hostile trees and archives, as root in a container or an archive's author
# would make them: device nodes, FIFOs and symlinks where the daemon writes
# (Clone's identity files, SetNetwork's host0 file, a template's resolv.conf),
# device nodes outside /dev, whiteouts naming '.' or '..', and disk images
# whose GPT points past their end. The daemon refuses or steps around them,
# never opens them, still answers, and a sentinel block device (a loop device
# over a file of known bytes) stays byte for byte as it was.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp: the daemon has a private one.
WORK=/srv/bred-hostile-trees
HOST_SENTINEL=/etc/bred-host-sentinel
SERVER_PID=
SENTINEL_DEV=

setup() {
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    rm -rf "$WORK"
    mkdir -p "$WORK/served"
    # The sentinel: 4 MiB of known bytes behind a loop device, and a copy to compare with.
    python3 -c 'import sys; sys.stdout.write(("bred sentinel block device\n" * 200000)[:4194304])' \
        > "$WORK/sentinel.img"
    cp "$WORK/sentinel.img" "$WORK/sentinel.expected"
    SENTINEL_DEV=$(losetup -f --show "$WORK/sentinel.img")
    SENTINEL_MAJOR=$((16#$(stat -c %t "$SENTINEL_DEV")))
    SENTINEL_MINOR=$((16#$(stat -c %T "$SENTINEL_DEV")))
    echo "host sentinel, never written" > "$HOST_SENTINEL"
    cp "$HOST_SENTINEL" "$WORK/host-sentinel.expected"
    python3 "$here/fixtures/serve.py" --root "$WORK/served" --port 0 > "$WORK/serve.out" 2> "$WORK/serve.log" &
    SERVER_PID=$!
    wait_for 10 grep -q '^PORT=' "$WORK/serve.out"
    BASE=http://127.0.0.1:$(sed -n 's/^PORT=//p' "$WORK/serve.out")
}
teardown() {
    [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2> /dev/null || true
    [[ -z $SENTINEL_DEV ]] || losetup -d "$SENTINEL_DEV" || true
    rm -rf "$WORK" "$HOST_SENTINEL"
}

# Nothing on the host changed, and the daemon still answers.
host_unchanged() {
    cmp "$WORK/sentinel.expected" "$SENTINEL_DEV"
    cmp "$WORK/host-sentinel.expected" "$HOST_SENTINEL"
    bus_call ListMachines > /dev/null
    no_leftovers
}

wait_listed() { wait_for 10 bash -c "bredmachine list | grep -q '^$1 '"; }

# A machine NAME whose PATH (relative to its tree) is a block device with
# the sentinel's numbers. Prints the tree's path.
tree_with_sentinel_at() {
    local name=$1 path=$2 dir
    remove_machine_dirs "$name"
    dir=$(make_fake_os_tree "$name")
    mkdir -p "$(dirname "$dir/$path")"
    mknod "$dir/$path" b "$SENTINEL_MAJOR" "$SENTINEL_MINOR"
    echo "$dir"
}

# job_outcome METHOD ARG...: starts a job with gcall and prints its JobRemoved
# signal as gdbus shows it: (uint32 ID, objectpath '...', 'RESULT', 'ERROR NAME', 'MESSAGE').
job_outcome() {
    local log pid id
    log=$(mktemp "$WORK/monitor.XXXXXX")
    gdbus monitor --system --dest "$BRED_BUS_NAME" --object-path "$BRED_BUS_PATH" > "$log" 2>&1 &
    pid=$!
    sleep 1
    id=$(gcall "$@" | sed -E 's/^\(uint32 ([0-9]+),.*/\1/')
    if ! wait_for 20 grep -q "JobRemoved (uint32 $id," "$log"; then
        kill "$pid"
        echo "job $id did not end within 20 s:"
        cat "$log"
        return 1
    fi
    kill "$pid"
    grep "JobRemoved (uint32 $id," "$log"
}

test_clone_hostname_block_device() {
    local out
    tree_with_sentinel_at hblk etc/hostname > /dev/null
    remove_machine_dirs hblk-copy
    wait_listed hblk
    out=$(job_outcome Clone hblk hblk-copy '{}')
    assert_contains "$out" "'failed', 'org.bredos.machine1.Error.NotSupported'"
    assert_contains "$out" "/etc/hostname in the machine's tree is a block device, not a regular file"
    [[ ! -e $BRED_MACHINES_DIR/hblk-copy ]]
    host_unchanged
    remove_machine_dirs hblk
}

test_clone_machine_id_block_device() {
    local out
    tree_with_sentinel_at midblk etc/machine-id > /dev/null
    remove_machine_dirs midblk-copy
    wait_listed midblk
    out=$(job_outcome Clone midblk midblk-copy '{}')
    assert_contains "$out" "'failed', 'org.bredos.machine1.Error.NotSupported'"
    assert_contains "$out" "/etc/machine-id in the machine's tree is a block device"
    [[ ! -e $BRED_MACHINES_DIR/midblk-copy ]]
    host_unchanged
    remove_machine_dirs midblk
}

test_clone_hostname_fifo() {
    local dir out start
    remove_machine_dirs hfifo hfifo-copy
    dir=$(make_fake_os_tree hfifo)
    mkfifo "$dir/etc/hostname"
    wait_listed hfifo
    start=$SECONDS
    out=$(job_outcome Clone hfifo hfifo-copy '{}')
    ((SECONDS - start < 10)) || { echo "the clone took $((SECONDS - start)) s"; return 1; }
    assert_contains "$out" "'failed', 'org.bredos.machine1.Error.NotSupported'"
    assert_contains "$out" "/etc/hostname in the machine's tree is a FIFO"
    [[ -p $dir/etc/hostname ]]
    [[ ! -e $BRED_MACHINES_DIR/hfifo-copy ]]
    host_unchanged
    remove_machine_dirs hfifo
}

# A symlink to a host file is followed inside the tree: the clone's own file is written.
test_clone_hostname_symlink_to_host() {
    local dir out
    remove_machine_dirs hlink hlink-copy
    dir=$(make_fake_os_tree hlink)
    ln -s "$HOST_SENTINEL" "$dir/etc/hostname"
    wait_listed hlink
    out=$(job_outcome Clone hlink hlink-copy '{}')
    assert_contains "$out" "'done'"
    assert_eq "$(cat "$BRED_MACHINES_DIR/hlink-copy$HOST_SENTINEL")" hlink-copy
    host_unchanged
    remove_machine_dirs hlink hlink-copy
}

network_settings="{'mode': <'veth'>, 'address': <'10.77.0.2/24'>}"
host0=etc/systemd/network/80-bred-host0.network

test_set_network_host0_block_device() {
    local dir
    dir=$(tree_with_sentinel_at netblk "$host0")
    wait_listed netblk
    assert_fails_with org.bredos.machine1.Error.NotSupported gcall SetNetwork netblk "$network_settings"
    assert_contains "$last_stderr" "/$host0 in the machine's tree is a block device, not a regular file"
    [[ -b $dir/$host0 ]]
    [[ ! -e /etc/systemd/nspawn/netblk.nspawn ]]
    host_unchanged
    remove_machine_dirs netblk
}

test_set_network_host0_fifo() {
    local dir start
    remove_machine_dirs netfifo
    dir=$(make_fake_os_tree netfifo)
    mkdir -p "$dir/etc/systemd/network"
    mkfifo "$dir/$host0"
    wait_listed netfifo
    start=$SECONDS
    assert_fails_with org.bredos.machine1.Error.NotSupported gcall SetNetwork netfifo "$network_settings"
    ((SECONDS - start < 5)) || { echo "SetNetwork took $((SECONDS - start)) s"; return 1; }
    assert_contains "$last_stderr" "is a FIFO"
    [[ -p $dir/$host0 ]]
    host_unchanged
    remove_machine_dirs netfifo
}

# The host0 file is the daemon's own: a symlink there, to a host file or to
# the host's device, is replaced by the file, never followed.
test_set_network_host0_symlinks() {
    local dir target
    remove_machine_dirs netlink
    dir=$(make_fake_os_tree netlink)
    mkdir -p "$dir/etc/systemd/network"
    wait_listed netlink
    for target in "$HOST_SENTINEL" "$SENTINEL_DEV"; do
        ln -sfn "$target" "$dir/$host0"
        gcall SetNetwork netlink "$network_settings" > /dev/null
        [[ -f $dir/$host0 && ! -L $dir/$host0 ]]
        assert_contains "$(cat "$dir/$host0")" "Address=10.77.0.2/24"
        host_unchanged
    done
    remove_machine_dirs netlink
}

# serve_archive NAME PYTHON: runs PYTHON with `out` (a tarfile opened for
# writing at served/NAME) and helpers, to craft an archive.
serve_archive() {
    python3 - "$WORK/served/$1" "$SENTINEL_MAJOR" "$SENTINEL_MINOR" <<EOF
import hashlib, io, json, sys, tarfile
major, minor = int(sys.argv[2]), int(sys.argv[3])

def entry(tar, name, kind=tarfile.REGTYPE, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

def os_tree(tar, prefix=""):
    entry(tar, prefix + "usr", tarfile.DIRTYPE)
    entry(tar, prefix + "usr/lib", tarfile.DIRTYPE)
    entry(tar, prefix + "usr/lib/os-release", data=b'ID=hostile\nPRETTY_NAME="Hostile"\n')

with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as out:
$2
EOF
}

test_archive_etc_symlink_to_another_machine() {
    local victim out
    remove_machine_dirs victim etcjump
    victim=$(make_fake_os_tree victim)
    # As in many images: resolv.conf a symlink dangling outside a booted system.
    ln -s ../run/systemd/resolve/stub-resolv.conf "$victim/etc/resolv.conf"
    echo victim > "$victim/etc/hostname"
    serve_archive etc-jump.tar "    os_tree(out)
    entry(out, 'etc', tarfile.SYMTYPE, linkname='$BRED_MACHINES_DIR/victim/etc')"
    install -o alice -m 0600 "$WORK/served/etc-jump.tar" /home/alice/etc-jump.tar
    out=$(as_user alice bredmachine --no-ask-password import etcjump /home/alice/etc-jump.tar 2>&1)
    assert_contains "$out" "Template 'etcjump' is ready"
    assert_eq "$(readlink "$victim/etc/resolv.conf")" ../run/systemd/resolve/stub-resolv.conf
    assert_eq "$(cat "$victim/etc/hostname")" victim
    assert_eq "$(readlink "$BRED_MACHINES_DIR/etcjump/etc")" "$BRED_MACHINES_DIR/victim/etc"
    rm -f /home/alice/etc-jump.tar
    host_unchanged
    remove_machine_dirs victim etcjump
}

test_archive_device_nodes_outside_dev() {
    local out dir=$BRED_MACHINES_DIR/devnodes
    remove_machine_dirs devnodes
    serve_archive devices.tar "    os_tree(out)
    entry(out, 'dev', tarfile.DIRTYPE)
    entry(out, 'dev/null-like', tarfile.CHRTYPE, devmajor=1, devminor=3)
    entry(out, 'dev/sentinel', tarfile.BLKTYPE, devmajor=major, devminor=minor)
    entry(out, 'srv', tarfile.DIRTYPE)
    entry(out, 'srv/disk', tarfile.BLKTYPE, devmajor=major, devminor=minor, mode=0o666)
    entry(out, 'srv/alias', tarfile.LNKTYPE, linkname='dev/sentinel')
    entry(out, 'etc', tarfile.DIRTYPE)
    entry(out, 'etc/hostname', tarfile.BLKTYPE, devmajor=major, devminor=minor)"
    install -o alice -m 0600 "$WORK/served/devices.tar" /home/alice/devices.tar
    out=$(as_user alice bredmachine --no-ask-password import devnodes /home/alice/devices.tar 2>&1)
    assert_contains "$out" "Left out the device node /srv/disk: device nodes are kept only under /dev."
    assert_contains "$out" "Left out the device node /srv/alias"
    assert_contains "$out" "Left out the device node /etc/hostname"
    [[ ! -e $dir/srv/disk && ! -e $dir/srv/alias && ! -e $dir/etc/hostname ]]
    assert_eq "$(stat -c '%F %t,%T' "$dir/dev/null-like")" "character special file 1,3"
    [[ -b $dir/dev/sentinel ]]
    # A clone of it writes its own hostname, the node being gone.
    remove_machine_dirs devclone
    bredmachine clone devnodes devclone > /dev/null 2>&1
    assert_eq "$(cat "$BRED_MACHINES_DIR/devclone/etc/hostname")" devclone
    rm -f /home/alice/devices.tar
    host_unchanged
    remove_machine_dirs devnodes devclone
}

# An OCI image whose second layer holds WHITEOUT: refused before it deletes anything.
oci_with_whiteout() {
    serve_archive "$1" "    layers = []
    for files in ([('usr/lib/os-release', b'ID=hostile\n'), ('etc/kept', b'kept\n')], [('$2', b'')]):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode='w') as layer:
            for name, data in files:
                entry(layer, name, data=data)
        layers.append(buffer.getvalue())
    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        entry(out, 'blobs/sha256/' + digest, data=data)
        return {'digest': 'sha256:' + digest, 'size': len(data)}
    entry(out, 'oci-layout', data=b'{\"imageLayoutVersion\": \"1.0.0\"}')
    entry(out, 'blobs', tarfile.DIRTYPE)
    entry(out, 'blobs/sha256', tarfile.DIRTYPE)
    config = blob(b'{}')
    descriptors = [dict(blob(data), mediaType='application/vnd.oci.image.layer.v1.tar') for data in layers]
    manifest = blob(json.dumps({'schemaVersion': 2, 'config': config, 'layers': descriptors}).encode())
    entry(out, 'index.json', data=json.dumps({'schemaVersion': 2, 'manifests': [manifest]}).encode())"
}

test_oci_whiteouts_of_dot_and_dotdot() {
    local whiteout out i=0
    for whiteout in .wh.. etc/.wh.. etc/.wh...; do
        i=$((i + 1))
        remove_machine_dirs "whiteout$i"
        oci_with_whiteout "whiteout$i.tar" "$whiteout"
        out=$(job_outcome CreateTemplate "whiteout$i" "$BASE/whiteout$i.tar" "{'verify': <'no'>}")
        assert_contains "$out" "'failed', 'org.bredos.machine1.Error.BadArchive'"
        assert_contains "$out" "The image's whiteout '$whiteout' names"
        [[ ! -e $BRED_MACHINES_DIR/whiteout$i ]]
        host_unchanged
    done
}

# A disk image of 40 sectors whose GPT has COUNT entries, the first a
# generic Linux partition from sector 34 to LAST.
disk_image_with_gpt() {
    serve_archive "$1" "    count, last = $2, $3
    disk = bytearray(512 * 40)
    header = bytearray(b'EFI PART' + bytes(84))
    header[72:80] = (2).to_bytes(8, 'little')
    header[80:84] = count.to_bytes(4, 'little')
    header[84:88] = (128).to_bytes(4, 'little')
    disk[512:512 + len(header)] = header
    partition = bytes.fromhex('AF3DC60F838472478E793D69D8477DE4') + bytes(16)
    partition += (34).to_bytes(8, 'little') + last.to_bytes(8, 'little')
    disk[1024:1024 + len(partition)] = partition
    entry(out, 'disk.raw', data=bytes(disk))"
}

test_disk_image_hostile_gpt() {
    local name count last message out
    while read -r name count last message; do
        remove_machine_dirs "$name"
        disk_image_with_gpt "$name.tar" "$count" "$last"
        out=$(job_outcome CreateTemplate "$name" "$BASE/$name.tar" "{'verify': <'no'>}")
        assert_contains "$out" "'failed', 'org.bredos.machine1.Error.BadArchive'"
        assert_contains "$out" "$message"
        [[ ! -e $BRED_MACHINES_DIR/$name ]]
        host_unchanged
    done <<'CASES'
gptbeyond 4 1099511627775 Partition 1 of the disk image does not lie within the image.
gpthuge 4294967295 37 partition table is malformed
CASES
}

run_setup setup teardown
run_test "clone: etc/hostname a block device of the host is refused, never written" test_clone_hostname_block_device
run_test "clone: etc/machine-id a block device of the host is refused" test_clone_machine_id_block_device
run_test "clone: etc/hostname a FIFO is refused at once" test_clone_hostname_fifo
run_test "clone: etc/hostname a symlink to a host file writes inside the tree" test_clone_hostname_symlink_to_host
run_test "set-network: the host0 file a block device is refused" test_set_network_host0_block_device
run_test "set-network: the host0 file a FIFO is refused at once" test_set_network_host0_fifo
run_test "set-network: a host0 symlink to the host is replaced, not followed" test_set_network_host0_symlinks
run_test "import: an archive's etc symlink to another machine changes nothing there" \
    test_archive_etc_symlink_to_another_machine
run_test "import: device nodes outside /dev are left out" test_archive_device_nodes_outside_dev
run_test "OCI whiteouts naming . or .. are BadArchive" test_oci_whiteouts_of_dot_and_dotdot
run_test "disk images: a GPT past the image's end or of 2^32-1 entries is BadArchive" test_disk_image_hostile_gpt
run_teardown teardown
