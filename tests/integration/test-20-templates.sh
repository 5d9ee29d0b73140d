#!/usr/bin/env bash
# CreateTemplate and ImportTemplate for real: fixtures in each distribution's
# own archive layout and checksum format, served over HTTP on 127.0.0.1, a
# catalog pointed at them, and hostile archives and servers.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp or /var/tmp: the daemon has private ones (PrivateTmp=yes).
FIXTURES=/srv/bred-fixtures
CONF_DIR=/etc/bred-machined

restart_daemon() {
    systemctl stop bred-machined.service
    bus_call ListMachines > /dev/null
}

# Fixtures, the server and the catalog override, once for this file.
setup() {
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    rm -rf "$FIXTURES"
    "$here/fixtures/make-distro-fixtures" "$FIXTURES" >&2
    python3 "$here/fixtures/serve.py" --root "$FIXTURES" --port 0 > /tmp/bred-serve.out 2> /tmp/bred-serve.log &
    SERVER_PID=$!
    wait_for 10 grep -q '^PORT=' /tmp/bred-serve.out
    PORT=$(sed -n 's/^PORT=//p' /tmp/bred-serve.out)
    BASE=http://127.0.0.1:$PORT
    mkdir -p "$CONF_DIR/distributions.d"
    {
        # The releases these tests' mirrors (the hostile ones too) hold; test-59 covers choosing one.
        local -A release=([ubuntu-base]=24.04 [debian]=12 [fedora]=test-42 [archlinux]=latest [archlinuxarm]=latest)
        for id in ubuntu-base debian fedora archlinux archlinuxarm; do
            printf '[%s]\nmirror = "%s/%s"\nkeyring = "%s/keyring.gpg"\ndefault_release = "%s"\n\n' \
                "$id" "$BASE" "$id" "$FIXTURES" "${release[$id]}"
        done
        printf '[fedora.releases.test-42]\nnumber = "42"\n'
    } > "$CONF_DIR/distributions.d/50-test-mirror.toml"
    cat > "$CONF_DIR/bred-machined.toml" <<EOF
[daemon]
max_jobs = 3

[download]
low_speed_timeout_seconds = 3
connect_timeout_seconds = 3
retries = 1
max_tree_bytes = 268435456
EOF
    restart_daemon
}
teardown() {
    kill "$SERVER_PID" 2>/dev/null || true
    rm -f "$CONF_DIR/distributions.d/50-test-mirror.toml" "$CONF_DIR/bred-machined.toml"
    restart_daemon
}

# The checks every created tree must pass: what a faithful unpacking keeps.
check_tree() {
    local name=$1 id=$2 dir=$BRED_MACHINES_DIR/$1
    [[ -d $dir ]]
    assert_contains "$(cat "$dir/usr/lib/os-release")" "ID=$id"
    assert_eq "$(machine_prop "$name" Class)" 's "template"'
    assert_eq "$(machine_prop "$name" ReadOnly)" 'b true'
    lsattr -d "$dir" | grep -q -- '-i-'
    # Numeric owners, even without a name on this system.
    [[ -n $(find "$dir" -uid 4242 -print -quit) ]] || { echo "no file of uid 4242"; return 1; }
    # A hard link pair, a file capability, a device node, a setuid file.
    assert_eq "$(stat -c %i "$dir/usr/bin/hardlink-a")" "$(stat -c %i "$dir/usr/bin/hardlink-b")"
    assert_contains "$(getcap "$dir/usr/bin/ping-like")" cap_net_raw
    assert_eq "$(stat -c '%F %t,%T' "$dir/dev/null-like")" "character special file 1,3"
    [[ -n $(find "$dir" -perm -4000 -print -quit) ]] || { echo "no setuid file"; return 1; }
    no_leftovers
}

test_catalog_lists_the_distributions() {
    local out
    out=$(bredmachine distros)
    for id in ubuntu-base debian fedora archlinux archlinuxarm; do
        assert_contains "$out" "$id"
    done
    # One line per release; the test's override made 24.04 the default.
    grep -Eq '^ubuntu-base +24\.04 +Ubuntu Base 24\.04 LTS.* yes$' <<< "$out" || fail "no default 24.04 in: $out"
    assert_eq "$(bredmachine distros --json | jq -r '.[] | select(.id=="archlinuxarm") | .architectures')" "arm,arm64"
    assert_fails_with org.bredos.machine1.Error.NoSuchDistribution gcall CreateTemplate x gentoo '{}'
    assert_fails_with org.bredos.machine1.Error.UnsupportedArchitecture gcall CreateTemplate x archlinux \
        "{'arch': <'riscv64'>}"
}

# create_and_check NAME DISTRO OS-ID [CLIENT OPTIONS...]: prints the client's log.
create_and_check() {
    local name=$1 distro=$2 id=$3
    shift 3
    remove_machine_dirs "$name"
    local out
    out=$(bredmachine create-template "$name" --distro "$distro" "$@" 2>&1) || { echo "$out"; return 1; }
    check_tree "$name" "$id"
    echo "$out"
}

test_ubuntu_base() {
    local out
    out=$(create_and_check ubuntu ubuntu-base ubuntu)
    assert_contains "$out" "Signature checked"
    assert_contains "$out" "Checksum verified"
    assert_eq "$(machine_prop ubuntu Architecture)" 's "x86-64"'
    # How it was verified, and with which key, is kept and shown.
    assert_eq "$(machine_prop ubuntu Verification)" 's "signature"'
    [[ $(machine_prop ubuntu VerificationKey) =~ ^s\ \"[0-9A-F]{40}\"$ ]] ||
        fail "no fingerprint: $(machine_prop ubuntu VerificationKey)"
    bredmachine status ubuntu | grep -Eq '^  Verified: +signature, key [0-9A-F]{40}$' ||
        fail "status does not show the key: $(bredmachine status ubuntu)"
    # A clone was not downloaded: it says nothing, even as a template.
    bredmachine clone ubuntu ubuntu-copy --template > /dev/null
    assert_eq "$(machine_prop ubuntu-copy Verification)" 's ""'
    remove_machine_dirs ubuntu-copy
    # A container made from it gets the host's DNS settings from nspawn.
    [[ ! -L $BRED_MACHINES_DIR/ubuntu/etc/resolv.conf ]]
}

test_debian_disk_image() {
    [[ -e /dev/loop-control ]] || { echo "no loop devices in this testbed"; return 1; }
    local out
    out=$(create_and_check debian debian debian)
    assert_contains "$out" "Copying the tree out of partition"
    assert_contains "$out" "Checksum verified"
    # The downgrade is a warning the client shows, and the template says so.
    assert_contains "$out" "Warning: Signature not checked"
    assert_eq "$(machine_prop debian Verification)" 's "checksum"'
    assert_eq "$(machine_prop debian VerificationKey)" 's ""'
}

test_fedora_oci() {
    local out dir=$BRED_MACHINES_DIR/fedora
    out=$(create_and_check fedora fedora fedora)
    assert_contains "$out" "Unpacking layer 2/2"
    assert_contains "$out" "Signature checked"
    [[ -z $(find "$dir" -name '.wh.*' -print -quit) ]] || { echo "whiteout files left in the tree"; return 1; }
}

test_archlinux_bootstrap() {
    local out dir=$BRED_MACHINES_DIR/arch
    out=$(create_and_check arch archlinux arch)
    assert_contains "$out" "Using root.x86_64/"
    assert_contains "$out" "Archive signature verified (key "
    assert_eq "$(machine_prop arch Verification)" 's "signature"'
    assert_eq "$(machine_prop arch VerificationKey)" "$(machine_prop ubuntu VerificationKey)"
    [[ ! -e $dir/root.x86_64 && ! -e $dir/pkglist.x86_64.txt ]]
}

test_archlinuxarm() {
    local out
    out=$(create_and_check alarm archlinuxarm archarm --arch arm64)
    assert_contains "$out" "Archive signature verified"
    assert_eq "$(machine_prop alarm Architecture)" 's "arm64"'
}

ubuntu_archive() { (cd "$FIXTURES" && find ubuntu-base -name '*.tar.gz' | head -1); }

test_import_from_an_unprivileged_users_file() {
    remove_machine_dirs imported
    install -o alice -m 0600 "$FIXTURES/$(ubuntu_archive)" /home/alice/rootfs.tar.gz
    assert_ok as_user alice bredmachine --no-ask-password import imported /home/alice/rootfs.tar.gz
    check_tree imported ubuntu
    assert_eq "$(machine_prop imported Verification)" 's "none"'
    remove_machine_dirs imported
    as_user alice bash -c 'cat /home/alice/rootfs.tar.gz | bredmachine --no-ask-password import imported -'
    check_tree imported ubuntu
    assert_fails_with "already exists" as_user alice bredmachine --no-ask-password import imported \
        /home/alice/rootfs.tar.gz
    rm -f /home/alice/rootfs.tar.gz
}

test_force_replaces_atomically() {
    create_and_check replaced ubuntu-base ubuntu > /dev/null
    local before
    before=$(stat -c %i "$BRED_MACHINES_DIR/replaced")
    assert_fails_with org.bredos.machine1.Error.AlreadyExists gcall CreateTemplate replaced ubuntu-base '{}'
    bredmachine create-template replaced --distro ubuntu-base --force > /dev/null 2>&1
    assert_ne "$(stat -c %i "$BRED_MACHINES_DIR/replaced")" "$before"
    check_tree replaced ubuntu
}

# hostile URL MESSAGE: the client's create fails saying MESSAGE, and nothing is left.
hostile() {
    local url=$1 message=$2
    remove_machine_dirs hostile
    assert_fails_with "$message" bredmachine create-template hostile --url "$url" --verify=no
    [[ ! -e $BRED_MACHINES_DIR/hostile ]]
    no_leftovers
    [[ ! -e /tmp/bred-pwned && ! -e /bred-pwned && ! -e /etc/bred-pwned ]]
}

test_hostile_archives() {
    hostile "$BASE/hostile/abs-path.tar.gz" "absolute"
    hostile "$BASE/hostile/dotdot.tar.gz" "'..'"
    hostile "$BASE/hostile/symlink-escape.tar.gz" "Cannot unpack"
    hostile "$BASE/hostile/hardlink-escape.tar.gz" "absolute hard link target"
    hostile "$BASE/hostile/truncated.tar.gz" "damaged"
    hostile "$BASE/hostile/corrupt.tar.gz" "damaged"
    hostile "$BASE/hostile/bomb.tar.zst" "max_tree_bytes"
    hostile "$BASE/hostile/not-an-os.tar.gz" "does not hold an OS tree"
}

test_hostile_servers() {
    local good start end
    good=$(ubuntu_archive)
    hostile "$BASE/nope.tar.gz" "404"
    hostile "$BASE/_redirect-file" "redirected $BASE/_redirect-file to file:///etc/passwd; only redirects to http:// and https:// are followed"
    start=$(date +%s)
    hostile "$BASE/_stall/$good" "the server sent less than 1024 bytes a second for 3 s (low_speed_timeout_seconds"
    end=$(date +%s)
    ((end - start < 30)) || { echo "the stalled download took $((end - start)) s"; return 1; }
    hostile "file:///etc/passwd" "not an http"
    remove_machine_dirs hostile
    assert_fails_with "checksum is" bredmachine create-template hostile --url "$BASE/hostile/wrong-checksum.tar.gz"
    [[ ! -e $BRED_MACHINES_DIR/hostile ]]
    no_leftovers
}

test_resume_after_interruption() {
    local good sum out
    good=$(ubuntu_archive)
    remove_machine_dirs resumed
    sum=$(sha256sum "$FIXTURES/$good" | cut -d' ' -f1)
    out=$(bredmachine create-template resumed --url "$BASE/_flaky/$good" --sha256 "$sum" 2>&1)
    assert_contains "$out" "resuming"
    check_tree resumed ubuntu
}

job_id() { sed -E 's/^\(uint32 ([0-9]+),.*/\1/'; }

test_cancel_and_busy() {
    local good id start end
    good=$(ubuntu_archive)
    remove_machine_dirs slow
    id=$(gcall CreateTemplate slow "$BASE/_stall/$good" "{'verify': <'no'>}" | job_id)
    assert_fails_with org.bredos.machine1.Error.Busy gcall CreateTemplate slow "$BASE/_stall/$good" \
        "{'verify': <'no'>}"
    sleep 0.5
    start=$(date +%s%N)
    bredmachine cancel "$id"
    wait_for 5 job_gone "$id"
    end=$(date +%s%N)
    (((end - start) / 1000000 < 1500)) || { echo "cancel took $(((end - start) / 1000000)) ms"; return 1; }
    [[ ! -e $BRED_MACHINES_DIR/slow ]]
    no_leftovers
}

test_too_many_jobs() {
    local good i ids=()
    good=$(ubuntu_archive)
    remove_machine_dirs j1 j2 j3 j4
    for i in 1 2 3; do
        ids+=("$(gcall CreateTemplate "j$i" "$BASE/_stall/$good" "{'verify': <'no'>}" | job_id)")
    done
    assert_fails_with org.bredos.machine1.Error.TooManyJobs gcall CreateTemplate j4 "$BASE/_stall/$good" \
        "{'verify': <'no'>}"
    for i in "${ids[@]}"; do bredmachine cancel "$i"; done
    # shellcheck disable=SC2016 # expanded by the inner bash on each try
    wait_for 10 bash -c '[[ $(bredmachine jobs) == "No jobs." ]]'
    no_leftovers
}

# with_override TOML CMD...: runs CMD with an extra catalog override in place.
with_override() {
    local file=$CONF_DIR/distributions.d/90-test-case.toml
    printf '%s\n' "$1" > "$file"
    shift
    local status
    capture_status status "$@"
    rm -f "$file"
    return "$status"
}

test_bad_signatures() {
    remove_machine_dirs badsig
    with_override "[ubuntu-base]
mirror = \"$BASE/ubuntu-base-badsig\"" \
        assert_fails_with "signature does not verify" bredmachine create-template badsig --distro ubuntu-base
    with_override "[ubuntu-base]
keyring = \"$FIXTURES/other-keyring.gpg\"" \
        assert_fails_with "signature does not verify" bredmachine create-template badsig --distro ubuntu-base
    # Only the signed part of Fedora's CHECKSUM counts: an unsigned line put before
    # it, matching the archive served, must not be believed.
    with_override "[fedora]
mirror = \"$BASE/fedora-unsigned-prefix\"" \
        assert_fails_with "tampered with" bredmachine create-template badsig --distro fedora
    # Asking for a signature where no keyring is installed is an error, not a silent downgrade.
    with_override "[ubuntu-base]
keyring = \"/nonexistent.gpg\"" \
        assert_fails_with "Cannot check" bredmachine create-template badsig --distro ubuntu-base --verify=signature
    [[ ! -e $BRED_MACHINES_DIR/badsig ]]
    no_leftovers
}

test_docker_save_layout() {
    remove_machine_dirs dockerfed
    with_override "[fedora]
mirror = \"$BASE/fedora-docker\"" \
        create_and_check dockerfed fedora fedora > /dev/null
}

test_unprivileged_cannot_create() {
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password create-template nope \
        --distro ubuntu-base
    assert_eq "$last_status" 4
    [[ ! -e $BRED_MACHINES_DIR/nope ]]
}

run_setup setup teardown
run_test "the catalog lists the five distributions" test_catalog_lists_the_distributions
run_test "ubuntu-base: plain rootfs, SHA256SUMS and its signature" test_ubuntu_base
run_test "debian: the root partition of a GPT disk image" test_debian_disk_image
run_test "fedora: OCI layers with whiteouts, clear-signed CHECKSUM" test_fedora_oci
run_test "archlinux: bootstrap layout, archive signature" test_archlinux_bootstrap
run_test "archlinuxarm: md5 and signature, foreign architecture" test_archlinuxarm
run_test "bad signatures and unsigned lines are refused" test_bad_signatures
run_test "fedora: the older docker-save layout" test_docker_save_layout
run_test "import from an unprivileged user's file and a pipe" test_import_from_an_unprivileged_users_file
run_test "force replaces a template atomically" test_force_replaces_atomically
run_test "hostile archives fail and leave nothing" test_hostile_archives
run_test "hostile servers fail and leave nothing" test_hostile_servers
run_test "an interrupted download resumes" test_resume_after_interruption
run_test "cancel stops within a second; a second job is Busy" test_cancel_and_busy
run_test "the job limit gives TooManyJobs" test_too_many_jobs
run_test "an unprivileged user cannot create templates" test_unprivileged_cannot_create
run_teardown teardown
