#!/usr/bin/env bash
# The mirror's tests in a bare virtualenv: only pytest and gateway/requirements.txt installed,
# and a check that Django cannot be imported there (the mirror must not need the service).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
venv="$work/venv/bin"
"$venv/python" -m pip install --quiet --disable-pip-version-check \
  "pytest==9.2.0" -r gateway/requirements.txt

if "$venv/python" -c "import django" 2>/dev/null; then
  echo "gateway/ci.sh: Django is importable in the mirror's virtualenv" >&2
  exit 1
fi
echo "gateway/ci.sh: Django is not importable here; running the mirror's tests"
cd "$work"
PYTHONPATH="$root" "$venv/python" -m pytest -c "$root/gateway/pytest.ini" \
  --rootdir "$root" "$root/gateway/tests" "$@"
