#!/usr/bin/env bash
# Bounded work, as a hostile container or caller would test it: a command that
# prints without ever a newline does not grow the daemon's memory; a silent
# pipe given to ImportTemplate is canceled within a second; descriptors that
# are not a regular file or a pipe are refused; one caller cannot take every
# job slot; a Rename and a Start of the same machine never both go ahead.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=/etc/bred-machined/bred-machined.toml
LOCAL_RECIPES=/etc/bred-machined/recipes
# Not under /tmp: the daemon has a private one.
WORK=/srv/bred-bounded
MACHINES=(k74flood k74silent k74sock k74a1 k74a2 k74a3 k74a4 k74a5 k74root k74ren k74ren2)

daemon_pid() { systemctl show -P MainPID bred-machined.service; }
rss_kib() { awk '$1 == "'"$1"':" { print $2 }' "/proc/$(daemon_pid)/status"; }
job_of() { sed -nE 's/^job ([0-9]+) .*/\1/p'; }
no_jobs() { [[ $(bredmachine jobs) == "No jobs." ]]; }

setup() {
    remove_machine_dirs "${MACHINES[@]}"
    rm -rf "$WORK"
    mkdir -p "$WORK" "$LOCAL_RECIPES" "$(dirname "$CONFIG")"
    # A step that prints 100 MB without a newline, then succeeds.
    cat > "$LOCAL_RECIPES/flood.toml" <<'EOF'
id = "flood"
description = "prints 100 MB without a newline"
[applies]
os = ["debian"]
[[step]]
kind = "run"
description = "flood"
command = ["sh", "-c", "head -c 100000000 /dev/zero | tr '\\0' x"]
EOF
    printf '[daemon]\nmax_jobs = 8\nmax_jobs_per_caller = 4\n' > "$CONFIG"
    systemctl restart bred-machined
    bus_call ListMachines > /dev/null
}

teardown() {
    rm -f "$LOCAL_RECIPES/flood.toml" "$CONFIG"
    systemctl restart bred-machined
    remove_machine_dirs "${MACHINES[@]}"
    rm -rf "$WORK"
}

test_output_without_newline_stays_bounded() {
    make_bootable_tree k74flood > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^k74flood '"
    # A fresh daemon, so that its peak memory is this test's.
    systemctl restart bred-machined
    bus_call ListMachines > /dev/null
    local before peak started=$SECONDS
    before=$(rss_kib VmRSS)
    # (The client prints every piece: not into this shell's memory.)
    bredmachine --no-progress convert k74flood --recipe flood > /dev/null 2>&1
    peak=$(rss_kib VmHWM)
    echo "VmRSS before: ${before} kB, peak: ${peak} kB, $((SECONDS - started)) s"
    # 100 MB went through; the daemon held at most a few MB of it at once.
    ((peak - before < 48 * 1024)) || { echo "the daemon grew by $((peak - before)) kB"; return 1; }
    assert_ok bus_call ListMachines
    # The pieces are logged as lines of at most 4 KiB.
    # shellcheck disable=SC2143 # grep -q would end journalctl with SIGPIPE under pipefail
    [[ -n $(journalctl -u bred-machined --since "-5min" -o cat | grep -m1 -E 'flood.*: x{4096}$') ]] \
        || { echo "no 4 KiB piece in the journal"; return 1; }
    remove_machine_dirs k74flood
}

test_silent_pipe_is_canceled_within_a_second() {
    mkfifo -m 0600 "$WORK/silent"
    # Held open for writing, and never written: the daemon sees no end of file.
    exec 7<> "$WORK/silent"
    local out id start end
    out=$(python3 "$here/import-fd.py" k74silent path "$WORK/silent")
    id=$(job_of <<< "$out")
    [[ -n $id ]] || { echo "no job: $out"; return 1; }
    sleep 1
    assert_eq "$(busctl --system get-property "$BRED_BUS_NAME" "/org/bredos/machine1/job/$id" \
        org.bredos.machine1.Job State)" 's "running"'
    # The daemon answers while its job waits on the pipe.
    assert_ok bus_call ListMachines
    start=$(date +%s%N)
    bredmachine cancel "$id"
    wait_for 5 bash -c "! busctl --system get-property $BRED_BUS_NAME /org/bredos/machine1/job/$id org.bredos.machine1.Job State"
    end=$(date +%s%N)
    exec 7>&-
    echo "canceled in $(((end - start) / 1000000)) ms"
    (((end - start) / 1000000 < 1500)) || { echo "cancel took $(((end - start) / 1000000)) ms"; return 1; }
    [[ ! -e $BRED_MACHINES_DIR/k74silent ]]
    no_leftovers
}

# refused WHAT KIND [PATH]: ImportTemplate with such a descriptor is InvalidArgs saying it is WHAT.
refused() {
    local what=$1
    shift
    assert_fails_with "error org.freedesktop.DBus.Error.InvalidArgs: The archive descriptor is $what;" \
        python3 "$here/import-fd.py" k74sock "$@"
    assert_eq "$last_status" 1
    assert_contains "$last_stderr" "pass a regular file or a pipe"
}

test_descriptor_types_are_checked() {
    refused "a socket" socket
    refused "a terminal" tty
    refused "a directory" path /
    refused "a character device" path /dev/null
    # As an unprivileged caller too, before polkit is asked.
    assert_fails_with "error org.freedesktop.DBus.Error.InvalidArgs: The archive descriptor is a socket" \
        as_user bob python3 "$here/import-fd.py" k74sock socket
    [[ ! -e $BRED_MACHINES_DIR/k74sock ]]
    no_leftovers
    assert_ok bus_call ListMachines
}

test_one_caller_cannot_take_every_slot() {
    mkfifo -m 0666 "$WORK/alice-pipe"
    exec 8<> "$WORK/alice-pipe"
    local i out ids=()
    for i in 1 2 3 4; do
        out=$(as_user alice python3 "$here/import-fd.py" "k74a$i" path "$WORK/alice-pipe")
        ids+=("$(job_of <<< "$out")")
    done
    assert_fails_with "error org.bredos.machine1.Error.TooManyJobs" \
        as_user alice python3 "$here/import-fd.py" k74a5 path "$WORK/alice-pipe"
    assert_contains "$last_stderr" "limit per caller"
    # root is not limited per caller: it still gets a job.
    out=$(python3 "$here/import-fd.py" k74root path "$WORK/alice-pipe")
    ids+=("$(job_of <<< "$out")")
    [[ -n ${ids[4]} ]] || { echo "root got no job: $out"; return 1; }
    for i in "${ids[@]}"; do bredmachine cancel "$i"; done
    wait_for 10 no_jobs
    exec 8>&-
    # With her jobs gone, alice gets one again.
    out=$(as_user alice python3 "$here/import-fd.py" k74a5 path /etc/hostname)
    [[ -n $(job_of <<< "$out") ]] || { echo "alice got no job: $out"; return 1; }
    wait_for 10 no_jobs
    remove_machine_dirs k74a1 k74a2 k74a3 k74a4 k74a5 k74root
    no_leftovers
}

test_rename_and_start_never_both_go_ahead() {
    make_bootable_tree k74ren > /dev/null
    wait_for 10 bash -c "bredmachine list | grep -q '^k74ren '"
    assert_ok bredmachine enable k74ren
    # Both at once: one of them is refused with Busy, or the Start comes after
    # the Rename and finds no machine; never a container running under the old
    # name with its tree renamed away.
    gcall Rename k74ren k74ren2 > "$WORK/rename.out" 2>&1 &
    local rename=$!
    local start_rc=0
    gcall Start k74ren '{}' > "$WORK/start.out" 2>&1 || start_rc=$?
    local rename_rc=0
    wait "$rename" || rename_rc=$?
    cat "$WORK/rename.out" "$WORK/start.out"
    if ((rename_rc == 0)); then
        ((start_rc != 0)) || { echo "both the Rename and the Start went ahead"; return 1; }
        grep -qE 'Error.(Busy|NoSuchMachine)' "$WORK/start.out"
        [[ -d $BRED_MACHINES_DIR/k74ren2 && ! -e $BRED_MACHINES_DIR/k74ren ]]
    else
        grep -q 'Error.Busy' "$WORK/rename.out"
    fi
    # A Stop while the Start job still runs is refused as Busy: let it finish.
    wait_for 60 no_jobs
    bredmachine stop k74ren --force > /dev/null 2>&1 || true
    bredmachine stop k74ren2 --force > /dev/null 2>&1 || true
    wait_for 30 bash -c "! machinectl list --no-legend | grep -q k74ren"
    bredmachine disable k74ren > /dev/null 2>&1 || true
    bredmachine disable k74ren2 > /dev/null 2>&1 || true
    rm -f /etc/systemd/system/bred-machine-k74ren.service /etc/systemd/system/bred-machine-k74ren2.service
    remove_machine_dirs k74ren k74ren2
    assert_ok bus_call ListMachines
}

run_setup setup teardown
run_test "a command printing 100 MB without a newline: memory stays bounded" test_output_without_newline_stays_bounded
run_test "ImportTemplate from a silent pipe is canceled within a second" test_silent_pipe_is_canceled_within_a_second
run_test "sockets, terminals, directories and devices are refused as archives" test_descriptor_types_are_checked
run_test "one caller holds at most max_jobs_per_caller jobs; root still gets one" test_one_caller_cannot_take_every_slot
run_test "a Rename and a Start of the same machine never both go ahead" test_rename_and_start_never_both_go_ahead
run_teardown teardown
