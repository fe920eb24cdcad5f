"""The daemon's status file (``<store>.status.json``, rewritten every second while it runs): one
typed value, written by the daemon and read by ``edgeface status`` through the same schema, so a
file that is not a status is refused naming the key that is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.errors import StoreError
from edge.files import owner_only_atomic


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Part):
    median: float
    p95: float


class CameraStatus(_Part):
    source: str | None
    reconnects: int
    dropped_frames: int


class DoorStatus(_Part):
    enabled: bool
    decisions: dict[str, int]


class OperatingPointStatus(_Part):
    purpose: str
    target: float | None
    threshold: float
    bound: float | None
    backed: bool
    templates: int
    visit_factor: float
    source: str


class Status(_Part):
    state: str  # running, stopped (as written); edgeface status may say 'not responding' or 'dead'
    pid: int
    device_id: str
    version: str
    started_at: str
    updated_at: str
    updated_unix: float
    uptime_s: float
    start_to_first_frame_s: float | None
    frames: int
    fps: float
    throughput_fps: float
    faces_seen: int
    frame_errors: int
    events: dict[str, int]
    door: DoorStatus | None
    latency_ms: dict[str, Latency]
    outbox_pending: int | None
    mqtt_connected: bool
    camera: CameraStatus
    present: list[str]
    last_person: str | None
    operating_points: list[OperatingPointStatus]


def status_path(store_path: str | Path) -> Path:
    """Where the daemon writes its status (next to the store)."""
    p = Path(store_path)
    return p.with_name(p.name + ".status.json")


def write_status(path: Path, status: Status) -> None:
    """Atomically, readable by the owner only (it names who is present)."""
    with owner_only_atomic(path, "w") as f:
        f.write(json.dumps(status.model_dump(), indent=1))


NOT_STATUS = "expected the status file edgeface run writes (rewritten every second while the daemon runs): start the daemon, or delete the file"


def read_status(path: Path) -> Status:
    """The status at ``path``; :class:`StoreError` naming what is wrong when it is not one."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"cannot read {path}: {e}") from e
    try:
        return Status.model_validate_json(text)
    except ValidationError as e:
        errors = e.errors()
        if errors[0]["type"] == "json_invalid":
            raise StoreError(f"{path}: not JSON ({errors[0]['msg']}); {NOT_STATUS}") from None
        missing = [".".join(map(str, err["loc"])) for err in errors if err["type"] == "missing"]
        wrong = [f"{'.'.join(map(str, err['loc'])) or 'the whole file'}: {err['msg'].lower()} (found {err['input']!r})"[:200]
                 for err in errors if err["type"] != "missing"]
        parts = ([f"no {', '.join(repr(m) for m in missing)} in it"] if missing else []) + wrong
        raise StoreError(f"{path}: {'; '.join(parts)}; {NOT_STATUS}") from None
