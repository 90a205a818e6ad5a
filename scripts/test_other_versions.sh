#!/usr/bin/env bash
# The test suite under another Python and torch than the development machine's (Python 3.11, torch 2.13.0), in a
# fresh virtual environment: how the oldest versions idc-deblur supports were checked (docs/reliability.md,
# "Versions"). PyPI's Linux torch is a CUDA build: the first install downloads about 3 GB.
#
# Usage: scripts/test_other_versions.sh PYTHON TORCH_VERSION [VENV] [pytest arguments...]
#   e.g. scripts/test_other_versions.sh python3.10 2.5.1 ../venv-py310-torch2.5
# With CONSTRAINTS=FILE, pip installs the other packages at the versions FILE pins (pip's -c), e.g. the oldest ones:
#   CONSTRAINTS=scripts/lowest-versions.txt scripts/test_other_versions.sh python3.10 2.5.1 ../venv-lowest
set -euo pipefail
py=${1:?PYTHON}; torch_version=${2:?TORCH_VERSION}; venv=${3:-../venv-$(basename "$py")-torch$torch_version}
shift $(( $# < 3 ? $# : 3 ))
constraints=()
[ -z "${CONSTRAINTS:-}" ] || constraints=(-c "$(realpath "$CONSTRAINTS")")  # before the cd: relative to the caller
cd "$(dirname "$0")/.."
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/pip" install -q ${constraints[@]+"${constraints[@]}"} "torch==$torch_version" -e ".[dev]"
"$venv/bin/python" -c "import sys, torch, numpy, PIL; print('Python', sys.version.split()[0], '| torch', torch.__version__, \
'| numpy', numpy.__version__, '| Pillow', PIL.__version__)"
"$venv/bin/python" -m pytest "$@"
