#!/usr/bin/env bash
# The criterion benches against a saved baseline: a case more than 10% slower than the
# baseline fails the check (docs/performance.md treats that as a bug).
#
#   benches/regression.sh save  [bench ...]   # record the baseline, e.g. on main
#   benches/regression.sh check [bench ...]   # compare with it; exit 1 on a regression
#
# Benches: decode, encode, log (default: all three). BASELINE names the baseline
# (default: main); LIMIT is the allowed slowdown (default: 0.10). On a shared 2-core VM
# one case moved 10% between two runs of the same code, and disk-bound cases (`sync`
# appends) move with the disk's fsync latency: re-run a flagged one before treating it
# as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
[ $# -gt 0 ] && shift
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(decode encode log)
baseline=${BASELINE:-main}
limit=${LIMIT:-0.10}
case $mode in
  save) flag=--save-baseline ;;
  check) flag=--baseline ;;
  *) echo "usage: $0 save|check [bench ...]" >&2; exit 2 ;;
esac
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
for b in "${benches[@]}"; do
  cargo bench --quiet --bench "$b" -- --warm-up-time 1 --measurement-time 3 "$flag" "$baseline"
done
[ "$mode" = save ] && exit 0
# Only the cases this run measured: change estimates newer than the stamp.
python3 - "$stamp" "$limit" <<'EOF'
import json, os, pathlib, sys
since, limit = os.path.getmtime(sys.argv[1]), float(sys.argv[2])
root = pathlib.Path("target/criterion")
worse = []
for est in sorted(root.glob("**/change/estimates.json")):
    if est.stat().st_mtime < since:
        continue
    change = json.loads(est.read_text())["mean"]["point_estimate"]
    case = est.parent.parent.relative_to(root)
    print(f"{change:+7.1%}  {case}")
    if change > limit:
        worse.append(str(case))
if worse:
    print(f"slower than the baseline by more than {limit:.0%}: " + ", ".join(worse))
    sys.exit(1)
print(f"no case is slower than the baseline by more than {limit:.0%}")
EOF
