#!/usr/bin/env bash
# Author notebooks as jupytext "percent" scripts, then turn them into executed, exported, clean notebooks.
#   tools/nb_build.sh SRC_DIR NAME [NAME...]   converts SRC_DIR/NAME.py -> nbs/NAME.ipynb, runs nbdev_export,
#                                              executes each notebook in place (outputs kept), cleans those notebooks.
#   tools/nb_build.sh --to-py SRC_DIR NAME     writes nbs/NAME.ipynb back out as SRC_DIR/NAME.py for editing.
# The notebooks stay the source of truth: the .py files are a scratch format, not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
if [ "${1:-}" = "--to-py" ]; then
  mkdir -p "$2"; $bin/jupytext --quiet --to py:percent -o "$2/$3.py" "nbs/$3.ipynb"; exit 0
fi
src=$1; shift
for n in "$@"; do $bin/jupytext --quiet --from py:percent --to ipynb -o "nbs/$n.ipynb" "$src/$n.py"; done
$bin/nbdev_export
for n in "$@"; do
  $bin/jupyter nbconvert --log-level=ERROR --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=900 "nbs/$n.ipynb" 2>&1 | { grep -v "Kernel is running over TCP" || true; } | tail -40
  $bin/nbdev_clean --fname "nbs/$n.ipynb"
done
