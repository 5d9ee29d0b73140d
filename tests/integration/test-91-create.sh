#!/usr/bin/env bash
# create: from nothing to a running container in one step, against a catalog
# entry served on loopback (this test bed's own Debian tree as the release's
# root file system archive): the template made once and kept, cloned, its
# network set, started; a failing step that leaves what the steps before made
# and says how to go on; refusals.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp or /var/tmp: the daemon has private ones (PrivateTmp=yes).
SERVED=/srv/bred-create
CATALOG=/etc/bred-machined/distributions.d/50-test-create.toml
TEMPLATE=testbed-debian-13-$(uname -m | sed 's/x86_64/x86-64/; s/aarch64/arm64/')

setup() {
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    remove_machine_dirs "$TEMPLATE" mk1 mk2 mk3
    rm -rf "$SERVED"
    mkdir -p "$SERVED/13"
    tar --numeric-owner --xattrs --acls -C "$BRED_TESTBED_ROOTFS" -cf "$SERVED/13/rootfs.tar" .
    (cd "$SERVED/13" && sha256sum rootfs.tar > SHA256SUMS)
    python3 "$here/fixtures/serve.py" --root "$SERVED" --port 0 > /run/bred-create.out 2> /run/bred-create.log &
    SERVER_PID=$!
    wait_for 10 grep -q '^PORT=' /run/bred-create.out
    BASE=http://127.0.0.1:$(sed -n 's/^PORT=//p' /run/bred-create.out)
    mkdir -p "$(dirname "$CATALOG")"
    printf '%s\n' \
        '[testbed-debian]' \
        'name = "Debian of the test bed"' \
        "mirror = \"$BASE\"" \
        'default_release = "13"' \
        'url = "{mirror}/{release}/rootfs.tar"' \
        'checksum_url = "{mirror}/{release}/SHA256SUMS"' \
        'checksum_format = "sha256sums"' \
        'layout = "rootfs"' \
        'architectures = { x86-64 = "amd64", arm64 = "arm64" }' \
        '' \
        '[testbed-debian.releases."13"]' \
        'name = "Debian 13 of the test bed"' \
        '' \
        '[testbed-debian.releases."12"]' \
        'name = "Debian 12, not served"' > "$CATALOG"
    systemctl restart bred-machined.service
    wait_for 10 bash -c "bredmachine distros --no-legend | grep -q '^testbed-debian '"
}

teardown() {
    local name
    for name in mk1 mk2 mk3; do bredmachine stop --force "$name" > /dev/null 2>&1 || true; done
    kill "$SERVER_PID" 2>/dev/null || true
    rm -f "$CATALOG"
    rm -rf "$SERVED"
    remove_machine_dirs "$TEMPLATE" mk1 mk2 mk3
    systemctl restart bred-machined.service
}

# fetch URL: the body of a plain http URL (the test bed has no curl).
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$1"; }

test_from_nothing_to_running() {
    local out
    out=$(bredmachine create mk1 --distro=testbed-debian --start 2>&1) || fail "create failed: $out"
    assert_contains "$out" "[1/3] Creating the template $TEMPLATE from testbed-debian 13"
    assert_contains "$out" "[2/3] Cloning $TEMPLATE into mk1"
    assert_contains "$out" "[3/3] Starting mk1"
    assert_eq "$(machine_prop "$TEMPLATE" Class)" 's "template"'
    assert_eq "$(machine_prop mk1 Class)" 's "container"'
    container_running mk1
    # The template is kept: the next create of that release downloads nothing, and sets the network.
    fetch "$BASE/_reset" > /dev/null
    out=$(bredmachine create mk2 --distro=testbed-debian --release=13 --veth 2>&1) || fail "create failed: $out"
    assert_contains "$out" "[1/1] Cloning $TEMPLATE into mk2"
    assert_eq "$(fetch "$BASE/_count")" "{}"
    assert_contains "$(cat /etc/systemd/nspawn/mk2.nspawn)" "VirtualEthernet=yes"
    assert_eq "$(machine_prop mk2 State)" 's "stopped"'
}

test_failing_steps() {
    # A step that fails leaves what the steps before made, and says how to go on.
    assert_fails_with "mk3 was created and is left as it is: 'bredmachine convert mk3 --recipe=nosuch' tries again" \
        bredmachine create mk3 --distro=testbed-debian --convert=nosuch
    assert_eq "$last_status" 1
    assert_eq "$(machine_prop mk3 Class)" 's "container"'
    # A release that is not served: nothing is made.
    assert_fails_with "404" bredmachine create mk4 --distro=testbed-debian --release=12
    [[ ! -e $BRED_MACHINES_DIR/${TEMPLATE/-13-/-12-} && ! -e $BRED_MACHINES_DIR/mk4 ]]
    no_leftovers
    # A release the catalog does not know, a distribution it does not know.
    assert_fails_with "11" bredmachine create mk4 --distro=testbed-debian --release=11
    assert_fails_with "nosuch" bredmachine create mk4 --distro=nosuch
    [[ ! -e $BRED_MACHINES_DIR/mk4 ]]
}

test_refusals() {
    assert_fails_with "A machine named mk3 exists already" bredmachine create mk3 --distro=testbed-debian
    assert_eq "$last_status" 2
    assert_fails_with "create needs --distro=ID" bredmachine create mk5
    assert_eq "$last_status" 2
    assert_fails_with "--with names extra packages of a conversion" bredmachine create mk5 --distro=debian --with=vim
    assert_fails_with "one choice" bredmachine create mk5 --distro=debian --veth --host
    # bob, in no group polkit trusts: refused before anything is made, exit 4.
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password create mk5 --distro=testbed-debian
    assert_eq "$last_status" 4
    [[ ! -e $BRED_MACHINES_DIR/mk5 ]]
    assert_ok bredmachine list
}

run_setup setup teardown
run_test "create --start: from nothing to a running container; the template kept for the next" test_from_nothing_to_running
run_test "create: a failing step leaves what was made and says how to go on" test_failing_steps
run_test "create: refusals" test_refusals
run_teardown teardown
