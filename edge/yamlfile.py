"""Reading the project's YAML files (manifests, device configs, calibrations) with one set of errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edge.errors import EdgeFaceError


def read_yaml(path: Path, error: type[EdgeFaceError], *, what: str, missing: str) -> Any:
    """The parsed YAML at ``path``; ``error`` names the file and says ``missing`` (the fix) when it
    does not exist, or why it cannot be read or parsed."""
    if path.is_dir():
        raise error(f"{path} is a folder; expected a {what} (YAML); {missing}")
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {what}; {missing}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read the {what}: {e}") from e
    except yaml.YAMLError as e:
        raise error(f"{path}: the {what} is not valid YAML: {e}") from None
