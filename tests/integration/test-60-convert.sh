#!/usr/bin/env bash
# Convert for real: an "Arch Linux ARM-like" tree (Debian's pacman, pacman-key
# and gpg, os-release ID=archarm) converted to BredOS with the shipped bredos
# recipe, its variables pointed through the daemon's config at a local pacman
# repository served on 127.0.0.1 with real packages signed by a test key.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=/srv/bred-pacman
CONFIG=/etc/bred-machined/bred-machined.toml
LOCAL_RECIPES=/etc/bred-machined/recipes
server_pid=

# serve_repo [PORT]: serve the repository (on a free port, or PORT again).
serve_repo() {
    python3 "$here/fixtures/serve.py" --root "$REPO" --port "${1:-0}" > /tmp/bred-pacman-serve.out 2> /tmp/bred-pacman-serve.log &
    server_pid=$!
    wait_for 10 grep -q '^PORT=' /tmp/bred-pacman-serve.out
    PORT=$(sed -n 's/^PORT=//p' /tmp/bred-pacman-serve.out)
}

setup() {
    remove_machine_dirs alarm1 alarm2 alarm3 deb1
    rm -rf "$REPO"
    "$here/fixtures/make-pacman-fixtures" repo "$REPO" >&2
    serve_repo
    mkdir -p "$(dirname "$CONFIG")" "$LOCAL_RECIPES"
    cat > "$CONFIG" <<EOF
[recipes.bredos]
mirror = "http://127.0.0.1:$PORT/repo/\$repo/\$arch"
keyserver = ""
key_file = "$REPO/bredos-test-key.asc"
keys = ["$(cat "$REPO/bredos-test-key.fpr")"]
EOF
    # A recipe whose one step takes long, to cancel it mid-step.
    cat > "$LOCAL_RECIPES/slow.toml" <<'EOF'
id = "slow"
description = "a step that takes long"
[applies]
os = ["archarm"]
[[step]]
kind = "run"
description = "wait"
command = ["sleep", "6007"]
EOF
    systemctl restart bred-machined
    local name
    for name in alarm1 alarm2 alarm3; do
        "$here/fixtures/make-pacman-fixtures" tree "$BRED_MACHINES_DIR/$name" >&2
        # Like a real Arch Linux ARM system, it has its distribution's repository enabled.
        sed "s/@PORT@/$PORT/" "$REPO/pacman-core.conf" >> "$BRED_MACHINES_DIR/$name/etc/pacman.conf"
    done
    wait_for 20 bash -c "bredmachine list | grep -q '^alarm3 '"
}

teardown() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2> /dev/null || true; fi
    rm -f "$CONFIG" "$LOCAL_RECIPES/slow.toml"
    systemctl restart bred-machined
    remove_machine_dirs alarm1 alarm2 alarm3 deb1
    rm -rf "$REPO"
}

test_recipes_are_listed() {
    local out
    out=$(bredmachine recipes)
    assert_contains "$out" bredos
    assert_contains "$out" "Arch Linux ARM to BredOS"
    assert_contains "$(bredmachine --json recipes)" '"id":"slow"'
}

test_convert_to_bredos() {
    # Arch Linux ARM's kernel and firmware are installed, as on a real system.
    bredmachine run alarm1 -- sh -c "pacman-key --init && pacman-key --add - && pacman-key --lsign-key $(cat "$REPO/bredos-test-key.fpr")" \
        < "$REPO/bredos-test-key.asc" > /dev/null 2>&1
    bredmachine run alarm1 -- pacman -Sy --noconfirm linux-aarch64 linux-firmware > /dev/null
    local out
    out=$(bredmachine --no-progress convert alarm1 --with bredos-config,bredos-news 2>&1) || {
        echo "$out"
        return 1
    }
    assert_contains "$out" "Step 1/"
    # The steps' output is in the journal too.
    assert_contains "$(journalctl -u bred-machined --no-pager -o cat)" "installing bredos-logo"
    assert_ok bredmachine run alarm1 -- pacman -Q bred-os-release bredos-logo lsb-release bredos-config bredos-news
    assert_fails bredmachine run alarm1 -- pacman -Q linux-aarch64
    assert_fails bredmachine run alarm1 -- pacman -Q linux-firmware
    # shellcheck disable=SC2016 # pacman expands $repo and $arch
    assert_eq "$(cat "$BRED_MACHINES_DIR/alarm1/etc/pacman.d/bredos-mirrorlist")" \
        "$(printf '# --> BredOS Mirrorlist <-- #\n# BredOS Main mirror\nServer = http://127.0.0.1:%s/repo/$repo/$arch' "$PORT")"
    local conf
    conf=$(cat "$BRED_MACHINES_DIR/alarm1/etc/pacman.conf")
    assert_contains "$conf" "$(printf '[BredOS-any]\nInclude = /etc/pacman.d/bredos-mirrorlist\n\n[BredOS]\nInclude = /etc/pacman.d/bredos-mirrorlist')"
    assert_eq "$(grep -c '^\[BredOS\]' <<< "$conf")" 1
    assert_contains "$(bredmachine run alarm1 -- pacman-key --list-keys "$(cat "$REPO/bredos-test-key.fpr")")" "full"
}

test_second_convert_changes_nothing() {
    local before after
    before=$(sha256sum "$BRED_MACHINES_DIR/alarm1/etc/pacman.conf" "$BRED_MACHINES_DIR/alarm1/etc/pacman.d/bredos-mirrorlist")
    local packages_before
    packages_before=$(bredmachine run alarm1 -- pacman -Q)
    bredmachine --no-progress convert alarm1 --with bredos-config,bredos-news > /dev/null 2>&1
    after=$(sha256sum "$BRED_MACHINES_DIR/alarm1/etc/pacman.conf" "$BRED_MACHINES_DIR/alarm1/etc/pacman.d/bredos-mirrorlist")
    assert_eq "$after" "$before"
    assert_eq "$(bredmachine run alarm1 -- pacman -Q)" "$packages_before"
}

test_convert_without_extras() {
    local out
    out=$(bredmachine --no-progress convert alarm3 2>&1)
    assert_contains "$out" "install the BredOS base packages"
    assert_ok bredmachine run alarm3 -- pacman -Q bred-os-release
    assert_fails bredmachine run alarm3 -- pacman -Q bredos-news
}

test_refusals() {
    make_fake_os_tree deb1 > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^deb1 '"
    assert_fails_with org.bredos.machine1.Error.NotSupported gcall Convert deb1 bredos '{}'
    assert_contains "$last_stderr" "archarm"
    # An Arch Linux ARM tree for arm64, on a host that cannot run arm64 programs.
    if [[ $(uname -m) != aarch64 && ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
        remove_machine_dirs armtree
        # A 64-byte ELF header for AArch64 (e_machine 183) is all the architecture check reads;
        # it is there before os-release makes the directory a machine.
        mkdir -p "$BRED_MACHINES_DIR/armtree/usr/bin"
        { printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'; head -c 44 /dev/zero; } \
            > "$BRED_MACHINES_DIR/armtree/usr/bin/sh"
        make_fake_os_tree armtree archarm > /dev/null
        wait_for 10 bash -c "bredmachine list | grep -q '^armtree '"
        assert_eq "$(machine_prop armtree Architecture)" 's "arm64"'
        assert_fails_with org.bredos.machine1.Error.NotSupported gcall Convert armtree bredos '{}'
        assert_contains "$last_stderr" "binfmt"
        remove_machine_dirs armtree
    fi
    assert_fails_with org.bredos.machine1.Error.NoSuchRecipe gcall Convert alarm2 nosuch '{}'
    assert_fails_with org.freedesktop.DBus.Error.InvalidArgs gcall Convert alarm2 bredos "{'extras': <['--force']>}"
    assert_fails_with org.bredos.machine1.Error.NoSuchMachine gcall Convert nosuch bredos '{}'
    assert_fails_with "Access denied" as_user bob bredmachine --no-ask-password convert alarm2
    assert_eq "$last_status" 4
    # Nothing was changed by the refused calls.
    [[ ! -e $BRED_MACHINES_DIR/alarm2/etc/pacman.d/bredos-mirrorlist ]]
    [[ ! -e $BRED_MACHINES_DIR/alarm2/etc/pacman.d/gnupg/pubring.gpg ]]
}

test_repo_down_fails_at_its_step() {
    kill "$server_pid"
    wait "$server_pid" 2> /dev/null || true
    server_pid=
    local out rc=0
    out=$(bredmachine --no-progress convert alarm2 2>&1) || rc=$?
    assert_eq "$rc" 1
    assert_contains "$out" "Recipe 'bredos' failed at step"
    # The first step that needs the repositories: the system update.
    assert_contains "$out" "(update the system) with exit status"
    # pacman's own words about the unreachable repository are in the report.
    assert_contains "$out" "failed to synchronize"
    serve_repo "$PORT"
}

test_cancel_stops_the_running_step() {
    local out started=$SECONDS rc=0
    out=$(timeout --preserve-status -s INT 3 bredmachine --no-progress convert alarm2 --recipe slow 2>&1) || rc=$?
    ((SECONDS - started < 20)) || { echo "cancel took $((SECONDS - started))s"; return 1; }
    assert_eq "$rc" 1
    assert_contains "$out" "was canceled"
    # (6007 s: the test framework's own time limit is a sleep too.)
    wait_for 20 no_process '^sleep 6007$'
}

run_setup setup teardown
run_test "recipes: the shipped one and local ones" test_recipes_are_listed
run_test "convert: Arch Linux ARM-like tree to BredOS, as the guide does" test_convert_to_bredos
run_test "converting again changes nothing" test_second_convert_changes_nothing
run_test "convert without extras installs the base packages only" test_convert_without_extras
run_test "convert refuses other trees, unknown recipes and strangers" test_refusals
run_test "a repository that is down fails the step that needs it" test_repo_down_fails_at_its_step
run_test "cancel stops the running step" test_cancel_stops_the_running_step
run_teardown teardown
