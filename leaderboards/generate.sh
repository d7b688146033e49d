#!/usr/bin/env bash
# Regenerates the synthetic-motion leaderboard: every configuration below under three seeds, then the markdown.
# About 12 minutes on 2 CPU cores. The result files are committed next to the markdown so that anyone can re-render
# it (`c2vbench leaderboard ... --check` is part of the test suite) or compare against these runs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=leaderboards/results/synthetic-motion
c2v=${C2VBENCH:-.venv/bin/c2vbench}
for seed in 0 1 2; do
  for pair in "meanp cosine" "seqtransf cosine" "tdb cosine" "tdb tab"; do
    set -- $pair
    $c2v run --temporal "$1" --align "$2" --dataset synthetic-motion --seed "$seed" --out "$out" --no-checkpoint --quiet
  done
done
for post in dsl qbnorm; do
  $c2v run --temporal meanp --align cosine --dataset synthetic-motion --seed 0 --postprocess "$post" --out "$out" \
    --no-checkpoint --quiet
done
$c2v leaderboard "$out" --baseline "tiny-clip · meanp · cosine" --out leaderboards/synthetic-motion.md \
  --plot leaderboards/synthetic-motion.png
