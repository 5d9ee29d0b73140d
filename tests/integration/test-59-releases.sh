#!/usr/bin/env bash
# Releases: the catalog's releases of each distribution and its default, chosen
# with the 'release' option, and what changes by itself within a release
# resolved from the distribution's own index, served on 127.0.0.1: Ubuntu's
# point release from SHA256SUMS (a newer one appearing), Fedora's respin from
# the images directory listing (an end-of-life release from the archive's
# location), Debian by codename and number.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp or /var/tmp: the daemon has private ones (PrivateTmp=yes).
FIXTURES=/srv/bred-fixtures
CONF_DIR=/etc/bred-machined
OVERRIDE=$CONF_DIR/distributions.d/50-test-releases.toml

restart_daemon() {
    systemctl stop bred-machined.service
    bus_call ListMachines > /dev/null
}

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
        for id in ubuntu-base debian fedora; do
            printf '[%s]\nmirror = "%s/%s"\nkeyring = "%s/keyring.gpg"\n\n' "$id" "$BASE" "$id" "$FIXTURES"
        done
        # An end-of-life release has its own mirror: the archive's location.
        printf '[fedora.releases."42"]\nmirror = "%s/fedora-archive"\n' "$BASE"
    } > "$OVERRIDE"
    restart_daemon
}
teardown() {
    kill "$SERVER_PID" 2>/dev/null || true
    rm -f "$OVERRIDE"
    remove_machine_dirs rel-ubuntu rel-debian rel-fedora
    restart_daemon
}

# create NAME DISTRO [CLIENT OPTIONS...]: prints the client's log; the template
# is removed again (only what was resolved and downloaded matters here).
create() {
    local name=$1 distro=$2 out
    shift 2
    remove_machine_dirs "$name"
    out=$(bredmachine create-template "$name" --distro "$distro" "$@" 2>&1) || { echo "$out"; return 1; }
    [[ -d $BRED_MACHINES_DIR/$name/usr ]] || { echo "no tree: $out"; return 1; }
    remove_machine_dirs "$name"
    echo "$out"
}

test_releases_are_listed() {
    local out
    out=$(bus_call ListDistributionReleases s ubuntu-base)
    assert_eq "$out" 'a(sssb) 2 "24.04" "Ubuntu Base 24.04 LTS (noble)" "arm,arm64,riscv64,x86-64" false "26.04" "Ubuntu Base 26.04 LTS (resolute)" "arm,arm64,riscv64,x86-64" true'
    assert_eq "$(bus_call ListDistributionReleases s debian)" 'a(sssb) 2 "12" "Debian 12 (bookworm)" "arm64,x86-64" false "13" "Debian 13 (trixie)" "arm64,x86-64" true'
    out=$(bus_call ListDistributionReleases s fedora)
    assert_contains "$out" '"42" "Fedora 42 Container Base (end of life)" "arm64,x86-64" false'
    assert_contains "$out" '"43" "Fedora 43 Container Base" "arm64,x86-64" false'
    assert_contains "$out" '"44" "Fedora 44 Container Base" "arm64,x86-64" true'
    assert_eq "$(bus_call ListDistributionReleases s archlinux)" 'a(sssb) 1 "latest" "Arch Linux (bootstrap)" "x86-64" true'
    assert_fails_with org.bredos.machine1.Error.NoSuchDistribution gcall ListDistributionReleases gentoo
    # Reading needs no authorization.
    as_user bob busctl --system call "$BRED_BUS_NAME" "$BRED_BUS_PATH" "$BRED_MANAGER_IFACE" \
        ListDistributionReleases s debian > /dev/null
    out=$(bredmachine distros)
    grep -Eq '^debian +13 +Debian 13 \(trixie\) +arm64,x86-64 +yes$' <<< "$out" || fail "distros: $out"
    grep -Eq '^debian +12 +Debian 12 \(bookworm\) +arm64,x86-64 +-$' <<< "$out" || fail "distros: $out"
    assert_eq "$(bredmachine distros --json | jq -c '.[] | select(.id=="debian") | .releases')" \
        '[{"architectures":"arm64,x86-64","default":false,"name":"Debian 12 (bookworm)","release":"12"},{"architectures":"arm64,x86-64","default":true,"name":"Debian 13 (trixie)","release":"13"}]'
}

test_unknown_release_is_refused() {
    assert_fails_with "Debian has no release '11'; choose one of: 12, 13" \
        bredmachine create-template x --distro debian --release 11
    assert_fails_with org.bredos.machine1.Error.NoSuchDistribution gcall CreateTemplate x debian "{'release': <'11'>}"
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall CreateTemplate x "$BASE/ubuntu-base/x.tar.gz" \
        "{'release': <'12'>}"
    assert_fails_with "--release goes with --distro" \
        bredmachine create-template x --url "$BASE/ubuntu-base/x.tar.gz" --release 12
    [[ ! -e $BRED_MACHINES_DIR/x ]]
}

test_ubuntu_point_release() {
    local out release=$FIXTURES/ubuntu-base/24.04/release
    out=$(create rel-ubuntu ubuntu-base)
    assert_contains "$out" "version 26.04"
    assert_contains "$out" "$BASE/ubuntu-base/26.04/release/ubuntu-base-26.04-base-amd64.tar.gz"
    assert_contains "$out" "Signature checked"
    out=$(create rel-ubuntu ubuntu-base --release 24.04)
    assert_contains "$out" "version 24.04.3"
    assert_contains "$out" "ubuntu-base-24.04.3-base-amd64.tar.gz"
    # 24.04.4 appears on the mirror (an arm64 build of a later one is no amd64 release).
    cp -lf "$FIXTURES"/ubuntu-base-next/24.04/release/* "$release/"
    out=$(create rel-ubuntu ubuntu-base --release 24.04)
    assert_contains "$out" "version 24.04.4"
    assert_contains "$out" "$BASE/ubuntu-base/24.04/release/ubuntu-base-24.04.4-base-amd64.tar.gz"
    assert_contains "$out" "Signature checked"
}

test_debian_by_codename_and_number() {
    [[ -e /dev/loop-control ]] || { echo "no loop devices in this testbed"; return 1; }
    local out
    out=$(create rel-debian debian)
    assert_contains "$out" "$BASE/debian/trixie/latest/debian-13-genericcloud-amd64.tar.xz"
    out=$(create rel-debian debian --release 12)
    assert_contains "$out" "$BASE/debian/bookworm/latest/debian-12-genericcloud-amd64.tar.xz"
}

test_fedora_respins_and_end_of_life() {
    local out images=releases/44/Container/x86_64/images
    out=$(create rel-fedora fedora)
    assert_contains "$out" "$BASE/fedora/$images/"
    assert_contains "$out" "respin 1.10"
    assert_contains "$out" "Fedora-Container-Base-Generic-44-1.10.x86_64.oci.tar.xz"
    assert_contains "$out" "Signature checked"
    out=$(create rel-fedora fedora --release 43)
    assert_contains "$out" "Fedora-Container-Base-Generic-43-1.6.x86_64.oci.tar.xz"
    out=$(create rel-fedora fedora --release 42)
    assert_contains "$out" \
        "$BASE/fedora-archive/releases/42/Container/x86_64/images/Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz"
    no_leftovers
}

run_setup setup teardown
run_test "each distribution's releases and default are listed" test_releases_are_listed
run_test "an unknown release is refused clearly" test_unknown_release_is_refused
run_test "ubuntu: the point release from SHA256SUMS, a newer one picked up" test_ubuntu_point_release
run_test "debian: 13 by default, 12 by codename and number" test_debian_by_codename_and_number
run_test "fedora: the current respin from the listing, end of life from the archive" test_fedora_respins_and_end_of_life
run_teardown teardown
