#!/usr/bin/env bash
# Run every test: the notebooks (nbdev_test, slow cells included) and the pytest suites. Needs the dev venv (.ci/run makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
echo "== nbdev_test (notebooks)"
$bin/nbdev_test --path nbs --flags slow --do_print
echo "== pytest (tests/)"
$bin/pytest tests -q -p no:cacheprovider --timeout=900 "$@"
