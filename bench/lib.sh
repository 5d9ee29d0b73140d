# shellcheck shell=bash
# The verdict of a benchmark, shared by bench/clone, bench/create-template and
# bench/start (sourced, not run). A benchmark records what went wrong with
# `problem` and `check_target`, and ends with `verdict`, whose exit status is:
#   0  every run succeeded, every tree matched, every target was met
#      (with --quick, targets are reported but not enforced)
#   1  something is broken: a failed run, a tree that differs from its
#      reference, a start that did not reach running, or nothing to measure
#   3  everything worked, but a target was missed
# (2 stays bad usage; a script that cannot measure at all dies with 1.)

problems=()
missed_targets=()

# problem TEXT: something is broken; the benchmark fails whatever the numbers.
problem() {
    problems+=("$*")
    echo "  FAILED: $*"
}

# check_target TEXT VALUE LIMIT FORMAT [UNIT]: prints "TEXT = VALUE (target <=
# LIMIT)" with VALUE and LIMIT in the printf FORMAT; a VALUE above LIMIT is a
# missed target. The comparison uses the unrounded VALUE.
check_target() {
    local text=$1 value=$2 limit=$3 format=$4 unit=${5:-} line
    line=$(awk -v t="$text" -v v="$value" -v l="$limit" -v f="$format" -v u="$unit" \
        'BEGIN {printf "%s = " f "%s (target <= " f "%s)", t, v, u, l, u}')
    if awk -v v="$value" -v l="$limit" 'BEGIN {exit !(v <= l)}'; then
        echo "$line"
    else
        echo "$line  <- missed"
        missed_targets+=("$line")
    fi
}

# check_ratio TEXT A B LIMIT: the target A/B <= LIMIT; A or B empty (no
# successful run to take a median of) is a problem, not a ratio.
check_ratio() {
    local text=$1 a=$2 b=$3 limit=$4
    if [[ -z $a || -z $b ]]; then
        problem "$text: no ratio (a contender has no successful run)"
        return 0
    fi
    check_target "$text" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')" "$limit" %.2f
}

# verdict QUICK: the last lines of a benchmark and its exit status (above).
verdict() {
    local quick=$1 line
    echo
    if ((${#problems[@]})); then
        echo "bench: FAILED: ${#problems[@]} problem(s):"
        for line in "${problems[@]}"; do echo "  $line"; done
        return 1
    fi
    if ((${#missed_targets[@]})); then
        if ((quick)); then
            echo "bench: OK (--quick: one small round is too noisy to hold to the targets; missed here:)"
            for line in "${missed_targets[@]}"; do echo "  $line"; done
            return 0
        fi
        echo "bench: FAILED: ${#missed_targets[@]} target(s) missed:"
        for line in "${missed_targets[@]}"; do echo "  $line"; done
        return 3
    fi
    if ((quick)); then
        echo "bench: OK: every run succeeded and every check passed (targets not enforced with --quick)"
    else
        echo "bench: OK: every run succeeded, every check passed, every target met"
    fi
    return 0
}
