#!/usr/bin/env bash
# The quick start's demo (./quickstart on a host without systemd runs it) goes
# through on this test bed: a template from an archive served on loopback,
# a container cloned from it, started, a command run inside, status, stopped.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
    bredmachine stop web > /dev/null 2>&1 || true
    remove_machine_dirs web debian-demo
}

test_the_demo_goes_through() {
    local out
    out=$(/usr/local/lib/bred-testbed/demo-inside 2>&1) || { echo "$out"; fail "the demo failed"; }
    assert_contains "$out" "Template 'debian-demo' is ready."
    assert_contains "$out" "Hello from Debian GNU/Linux"
    assert_contains "$out" "CGroup:"
    assert_contains "$out" "The demo went through"
}

run_setup cleanup cleanup
run_test "the quick start's demo: create-template, clone, start, run, status, stop" test_the_demo_goes_through
run_teardown cleanup
