#!/usr/bin/env bash
# Set up edgeface in ./.venv (device package). Options:
#   --dev    also test and lint tools (pytest, ruff, mypy)
#   --tools  also the model toolchain in ./.venv-tools (TensorFlow, onnx2tf; large)
#   --ha     also Home Assistant Core in ./.venv-ha, for the tests against a real HA (tools/ha-venv.sh)
# Needs Python 3.11+ with venv (Debian 12 / Pi OS Bookworm: apt-get install python3-venv); on 32-bit
# Pi OS (armv7l) also apt-get install python3-numpy python3-opencv python3-yaml python3-scipy.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
dev=0; tools=0; ha=0
for a in "$@"; do
  case "$a" in
    --dev) dev=1 ;;
    --tools) tools=1 ;;
    --ha) ha=1 ;;
    *) echo "setup.sh: unknown option $a (expected --dev, --tools or --ha)" >&2; exit 2 ;;
  esac
done
q=-q
[ -t 1 ] && q=
venv_opts=""
if [ "$(uname -m)" != armv7l ] && [ "$("$PY" -c 'import platform, struct; print(platform.machine()[:3] in ("arm", "aar") and struct.calcsize("P") == 4)')" = True ]; then
  echo "setup.sh: 32-bit Python on a 64-bit kernel ($(uname -m)): the wheels' markers expect armv7l; boot the 32-bit kernel (arm_64bit=0 in config.txt) or use 64-bit Pi OS" >&2
  exit 1
fi
if [ "$(uname -m)" = armv7l ]; then
  # 32-bit Pi OS: PyPI has no armv7l wheels of numpy<2, OpenCV or PyYAML; Debian's, seen through the system site-packages.
  "$PY" -c 'import numpy, cv2, yaml, scipy' 2>/dev/null || { echo "setup.sh: on 32-bit Pi OS first: sudo apt-get install python3-numpy python3-opencv python3-yaml python3-scipy" >&2; exit 1; }
  venv_opts=--system-site-packages
fi
[ -x .venv/bin/python ] || "$PY" -m venv $venv_opts .venv
.venv/bin/python -m pip install $q --upgrade pip
extras="console"
[ "$dev" = 1 ] && extras="$extras,dev"
# 32-bit Pi OS has no ai-edge-litert wheel: tflite-runtime (with numpy<2) instead; OpenCV from apt (above).
[ "$(uname -m)" = armv7l ] && extras="$extras,armv7"
# The versions the tests were run with (constraints.txt), except on 32-bit Pi OS (numpy<2 there).
pins="-c constraints.txt"
[ "$(uname -m)" = armv7l ] && pins=""
.venv/bin/pip install $q $pins -e ".[$extras]"
if [ "$tools" = 1 ]; then
  [ -x .venv-tools/bin/python ] || "$PY" -m venv .venv-tools
  .venv-tools/bin/python -m pip install $q --upgrade pip
  .venv-tools/bin/pip install $q -r tools/requirements.txt
  .venv-tools/bin/pip install $q --no-deps -e .
fi
if [ "$ha" = 1 ]; then
  PYTHON="$PY" tools/ha-venv.sh
fi
