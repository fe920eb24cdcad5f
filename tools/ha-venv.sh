#!/usr/bin/env bash
# Home Assistant Core in ./.venv-ha, for tests/integration/test_homeassistant.py (a real HA reading
# the daemon's MQTT discovery). Idempotent: does nothing when .venv-ha already has this HA version, was
# made from this tools/ha-requirements.txt (a stamp in .venv-ha) and imports.
#   tools/ha-venv.sh [--force]      (--force: remove .venv-ha and install again)
# HA 2024.3.3 is the newest Core for Python 3.11. Its dependencies are installed under HA's own
# homeassistant/package_constraints.txt (without it pip picks versions HA breaks on); that file ships
# inside the package, so HA is installed once without dependencies to read it. tools/ha-requirements.txt
# adds what the integrations HA always loads import (HA runs with --skip-pip, never installing at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
HA_VERSION=2024.3.3
VENV=.venv-ha
PY=${PYTHON:-python3}
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    *) echo "ha-venv.sh: unknown option $a (expected --force)" >&2; exit 2 ;;
  esac
done
stamp() { echo "homeassistant==$HA_VERSION $(sha256sum tools/ha-requirements.txt | cut -d' ' -f1)"; }
check() {
  [ -x "$VENV/bin/hass" ] && [ "$(cat "$VENV/.edgeface-stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  "$VENV/bin/python" - "$HA_VERSION" <<'PY' 2>/dev/null
import sys
from homeassistant.const import __version__
import hass_frontend, paho.mqtt.client, sqlalchemy, josepy, securetar, PIL, numpy  # noqa: F401
sys.exit(__version__ != sys.argv[1])
PY
}
[ "$force" = 1 ] && rm -rf "$VENV"
if check; then
  echo "ha-venv.sh: $VENV has Home Assistant $HA_VERSION"
  exit 0
fi
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' || {
  echo "ha-venv.sh: Home Assistant $HA_VERSION needs Python 3.11 or 3.12, $PY is $("$PY" -V 2>&1) (set PYTHON=...)" >&2; exit 1; }
q=-q
[ -t 1 ] && q=
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install $q --upgrade pip
"$VENV/bin/pip" install $q --no-deps "homeassistant==$HA_VERSION"
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
constraints="$site/homeassistant/package_constraints.txt"
[ -f "$constraints" ] || { echo "ha-venv.sh: $constraints missing from the homeassistant package" >&2; exit 1; }
"$VENV/bin/pip" install $q -c "$constraints" "homeassistant==$HA_VERSION" -r tools/ha-requirements.txt
stamp > "$VENV/.edgeface-stamp"
check || { echo "ha-venv.sh: $VENV was installed but Home Assistant $HA_VERSION does not import" >&2; exit 1; }
echo "ha-venv.sh: installed Home Assistant $HA_VERSION in $VENV"
