#!/usr/bin/env bash
# Fuzz every parser for a bounded time: fuzz/run.sh [SECONDS per target, default 60].
# Coverage-guided (atheris) when installed, else random mutation. CI runs `fuzz/run.sh 5`.
# Exits non-zero if any target found a crash (the input is saved; see fuzz/fuzz.py).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x "${CARGO_VERIFY_VENV:-.venv}/bin/python" ]; then PY=${CARGO_VERIFY_VENV:-.venv}/bin/python
else PY=python3
fi
TARGETS=(lockfile manifest config index bundle rekor policy identity verify evidence_store)
failed=()
for target in "${TARGETS[@]}"; do
    if ! "$PY" fuzz/fuzz.py "$target" --seconds "$SECONDS_EACH"; then
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_EACH} s each, no finding"
