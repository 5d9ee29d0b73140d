#!/usr/bin/env bash
# A daemon killed mid-job loses nothing: for each kind of job (create and
# import a template, clone, convert, remove, run in a stopped or a running
# container) the daemon gets SIGKILL while the job runs, is started again,
# and must leave no half-made machine under any name, no hidden leftovers, no unit of the dead
# daemon running, and the machines it worked on intact.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCAL_RECIPES=/etc/bred-machined/recipes
# Not under /tmp: the daemon has a private one.
WORK=/srv/bred-killed
MACHINES=(k73create k73import k73big k73clone k73conv)
server_pid=

# A tree that takes seconds to copy and to remove: 100 000 small files.
make_big_tree() {
    local dir d
    dir=$(make_fake_os_tree "$1")
    for d in $(seq 100); do
        mkdir "$dir/data$d"
        (cd "$dir/data$d" && touch $(seq -f 'file%g' 1000))
    done
}

kill_daemon() {
    local pid
    pid=$(systemctl show -P MainPID bred-machined.service)
    [[ $pid != 0 ]] || { echo "the daemon is not running"; return 1; }
    # (systemctl kill signals the whole cgroup, which the nested test bed refuses with EIO.)
    kill -KILL "$pid"
    wait_for 10 bash -c "! kill -0 $pid"
}

start_daemon() {
    systemctl reset-failed bred-machined.service 2> /dev/null || true
    since=$(date '+%Y-%m-%d %H:%M:%S')
    systemctl start bred-machined.service
    assert_ok bus_call ListMachines
}

active_run_units() {
    systemctl list-units --no-legend --plain 'bred-run-*' | grep -v -e ' inactive ' -e 'not-found' || true
}

# What every test checks after the restart.
check_nothing_left() {
    no_leftovers
    [[ -z $(find /etc/systemd/nspawn /etc/systemd/system -maxdepth 1 -name '*.#bred-*' 2> /dev/null) ]] \
        || { echo "temporary files left in /etc/systemd"; return 1; }
    assert_eq "$(active_run_units)" ""
    assert_ok bus_call ListMachines
}

# recovered WHAT: the restarted daemon's journal says it recovered WHAT.
recovered() {
    journalctl -u bred-machined.service --since "$since" -o cat | grep 'Recovering from an interrupted job' \
        | grep -q -- "$1" || { echo "the journal does not say: $1"; journalctl -u bred-machined.service --since "$since" -o cat | tail -20; return 1; }
}

setup() {
    remove_machine_dirs "${MACHINES[@]}"
    rm -rf "$WORK"
    mkdir -p "$WORK/serve" "$LOCAL_RECIPES"
    # An archive of an OS tree with 30 MB of incompressible data in it, so it takes a while.
    local tree=$WORK/tree
    mkdir -p "$tree/usr/lib" "$tree/etc"
    printf 'ID=fakeos\nNAME="Fake OS"\n' > "$tree/usr/lib/os-release"
    head -c 30000000 /dev/urandom > "$tree/usr/lib/filler"
    tar -C "$tree" -cf "$WORK/serve/rootfs.tar" .
    python3 "$here/fixtures/serve.py" --root "$WORK/serve" --port 0 > "$WORK/serve.out" 2> "$WORK/serve.log" &
    server_pid=$!
    wait_for 10 grep -q '^PORT=' "$WORK/serve.out"
    PORT=$(sed -n 's/^PORT=//p' "$WORK/serve.out")
    cat > "$LOCAL_RECIPES/k73hang.toml" <<'EOF'
id = "k73hang"
description = "a step that takes long"
[applies]
os = ["debian"]
[[step]]
kind = "run"
description = "wait"
command = ["sleep", "6073"]
EOF
    systemctl restart bred-machined
    echo "tree of k73conv" > "$(make_bootable_tree k73conv)/etc/bred-marker"
    make_big_tree k73big
    wait_for 20 bash -c "bredmachine list | grep -q '^k73big '"
}

teardown() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2> /dev/null || true; fi
    rm -f "$LOCAL_RECIPES/k73hang.toml"
    systemctl reset-failed bred-machined.service 2> /dev/null || true
    systemctl restart bred-machined
    remove_machine_dirs "${MACHINES[@]}"
    rm -rf "$WORK"
}

test_killed_while_creating_a_template() {
    # The server sends half the archive, then stalls: the job is mid-unpack.
    gcall CreateTemplate k73create "http://127.0.0.1:$PORT/_stall/rootfs.tar" "{'verify': <'no'>}"
    wait_for 10 bash -c "[[ -n \$(find $BRED_MACHINES_DIR -maxdepth 3 -path '*/.#bred-create-k73create-*/unpacked/usr') ]]"
    kill_daemon
    start_daemon
    [[ ! -e $BRED_MACHINES_DIR/k73create ]]
    check_nothing_left
    recovered "removed $BRED_MACHINES_DIR/.#bred-create-k73create-"
}

test_killed_while_importing_a_template() {
    mkfifo "$WORK/import-pipe"
    # Half the archive, then the pipe stays open (here) and silent.
    exec 7<> "$WORK/import-pipe"
    python3 "$here/import-fd.py" k73import path "$WORK/import-pipe"
    head -c 15000000 "$WORK/serve/rootfs.tar" > "$WORK/import-pipe" &
    local writer=$!
    wait_for 10 bash -c "[[ -n \$(find $BRED_MACHINES_DIR -maxdepth 3 -path '*/.#bred-create-k73import-*/unpacked/usr') ]]"
    kill_daemon
    kill "$writer" 2> /dev/null || true
    exec 7>&-
    start_daemon
    [[ ! -e $BRED_MACHINES_DIR/k73import ]]
    check_nothing_left
}

test_killed_while_cloning() {
    local before
    before=$(find "$BRED_MACHINES_DIR/k73big" | wc -l)
    gcall Clone k73big k73clone '{}'
    wait_for 10 bash -c "[[ -n \$(find $BRED_MACHINES_DIR -maxdepth 2 -path '*/.#bred-clone-k73clone-*/data1') ]]"
    kill_daemon
    start_daemon
    [[ ! -e $BRED_MACHINES_DIR/k73clone ]] || { echo "the clone was finished before the kill"; return 1; }
    check_nothing_left
    recovered "removed $BRED_MACHINES_DIR/.#bred-clone-k73clone-"
    # The source is whole and still a machine.
    assert_eq "$(find "$BRED_MACHINES_DIR/k73big" | wc -l)" "$before"
    assert_eq "$(machine_prop k73big Class)" 's "container"'
}

test_killed_while_converting() {
    gcall Convert k73conv k73hang '{}'
    wait_for 30 bash -c "systemctl list-units --no-legend --plain 'bred-run-k73conv-*' | grep -q ' active '"
    wait_for 10 pgrep -f '^sleep 6073$'
    kill_daemon
    start_daemon
    recovered "stopping bred-run-k73conv-"
    check_nothing_left
    assert_fails pgrep -f '^sleep 6073$'
    # The machine is intact, stopped, and can be started by the next job.
    assert_eq "$(cat "$BRED_MACHINES_DIR/k73conv/etc/bred-marker")" "tree of k73conv"
    assert_eq "$(machine_prop k73conv State)" 's "stopped"'
    assert_eq "$(bredmachine run k73conv -- cat /etc/bred-marker)" "tree of k73conv"
}

test_killed_while_running_a_command() {
    bredmachine run k73conv -- sleep 6074 > /dev/null 2>&1 &
    local client=$!
    wait_for 30 bash -c "systemctl list-units --no-legend --plain 'bred-run-k73conv-*' | grep -q ' active '"
    wait_for 10 pgrep -f '^sleep 6074$'
    kill_daemon
    start_daemon
    kill "$client" 2> /dev/null || true
    recovered "stopping bred-run-k73conv-"
    check_nothing_left
    assert_fails pgrep -f '^sleep 6074$'
    assert_eq "$(machine_prop k73conv State)" 's "stopped"'
}

# sleep_in_container NAME, no_sleep_in_container NAME: whether the test's
# sleep runs inside container NAME; each needs the container to answer.
# (Probes for wait_for: they return, never exit as assertions do.)
sleeps_in_container() { systemd-run -M "$1" --wait --pipe -q pgrep -c -f '^sleep 6075$' || true; }
sleep_in_container() { [[ $(sleeps_in_container "$1") == 1 ]]; }
no_sleep_in_container() { [[ $(sleeps_in_container "$1") == 0 ]]; }
machine_stopped() { [[ $(machine_prop "$1" State) == 's "stopped"' ]]; }

test_killed_while_running_a_command_in_a_running_container() {
    assert_ok bredmachine start k73conv
    wait_for 90 container_running k73conv
    bredmachine run k73conv -- sleep 6075 > /dev/null 2>&1 &
    local client=$!
    wait_for 30 sleep_in_container k73conv
    kill_daemon
    start_daemon
    kill "$client" 2> /dev/null || true
    recovered "in k73conv"
    wait_for 10 no_sleep_in_container k73conv
    assert_eq "$(ls -A /run/bred-machined/commands-in-containers)" ""
    check_nothing_left
    assert_ok bredmachine stop k73conv
    wait_for 30 machine_stopped k73conv
}

test_killed_while_removing() {
    printf '[Files]\nBind=/srv\n' > /etc/systemd/nspawn/k73big.nspawn
    gcall Remove k73big
    wait_for 10 bash -c "[[ -n \$(find $BRED_MACHINES_DIR -maxdepth 1 -name '.#bred-remove-k73big-*') ]]"
    kill_daemon
    start_daemon
    # The removal had begun, so it is finished: no tree, no settings, no leftovers.
    [[ ! -e $BRED_MACHINES_DIR/k73big ]]
    [[ ! -e /etc/systemd/nspawn/k73big.nspawn ]]
    recovered "removed $BRED_MACHINES_DIR/.#bred-remove-k73big-"
    check_nothing_left
    assert_not_contains "$(bredmachine list)" k73big
}

run_setup setup teardown
run_test "killed while creating a template: no half-made template, no leftovers" test_killed_while_creating_a_template
run_test "killed while importing a template from a pipe: nothing left" test_killed_while_importing_a_template
run_test "killed while cloning: no half-made clone, the source intact" test_killed_while_cloning
run_test "killed while converting a stopped container: its unit is stopped" test_killed_while_converting
run_test "killed while running a command in a stopped container: its unit is stopped" test_killed_while_running_a_command
run_test "killed while running a command in a running container: its unit there is stopped" \
    test_killed_while_running_a_command_in_a_running_container
run_test "killed while removing: the removal is finished, settings too" test_killed_while_removing
run_teardown teardown
