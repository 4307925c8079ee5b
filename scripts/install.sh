#!/usr/bin/env bash
# Install rdrop-fairseq and a fairseq that runs on Python 3.11 into a virtualenv.
#
#   bash scripts/install.sh            # creates/uses ./.venv
#   VENV=/path/to/env bash scripts/install.sh
#   VENV= bash scripts/install.sh      # install into the current python instead
#
# torch: an already-installed torch (>= 2.1, any CUDA build) is kept. Otherwise
# TORCH_SPEC (default torch==2.13.0) is installed.
#
# fairseq: fairseq 0.12.2 on PyPI does not install on Python 3.11 (dataclass
# mutable defaults, old hydra/omegaconf pins). fairseq-fixed 0.12.3.1 is fairseq
# 0.12 with exactly those fixes. It declares torchaudio, which would pull in a
# second torch, so it is installed with --no-deps after its real dependencies,
# and --no-build-isolation so that its C++ extensions build against *your* torch.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
FAIRSEQ_SPEC=${FAIRSEQ_SPEC:-fairseq-fixed==0.12.3.1}

if [ -n "$VENV" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  PY="$VENV/bin/python"
else
  PY=python3
fi
PIP=("$PY" -m pip install --disable-pip-version-check -q)

"${PIP[@]}" --upgrade pip setuptools wheel
if ! "$PY" -c "import torch, sys; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 1))" 2>/dev/null; then
  echo "install: installing $TORCH_SPEC"
  "${PIP[@]}" "$TORCH_SPEC"
fi
"${PIP[@]}" -r requirements.txt
if ! "$PY" -c "import fairseq" 2>/dev/null; then
  echo "install: building $FAIRSEQ_SPEC (C++ extensions, ~2-3 min on 2 cores)"
  "${PIP[@]}" --no-deps --no-build-isolation "$FAIRSEQ_SPEC"
fi
"${PIP[@]}" --no-deps --no-build-isolation -e .
"$PY" - <<'PY'
import torch, fairseq, rdrop_fairseq
print(f"install: ok: torch {torch.__version__}, fairseq {fairseq.__version__}, "
      f"rdrop_fairseq {rdrop_fairseq.__version__} ({rdrop_fairseq.USER_DIR})")
PY
