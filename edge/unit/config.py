"""Strict device configuration (``firmware_configs/*.yaml``), parsed once at start.

Unknown or misspelt keys, wrong types and missing files are errors naming the key path,
the value found and the fix. Secrets come from a file or an environment variable and are
never printed (``SecretStr``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from edge.errors import ConfigError
from edge.quality import QualityGates
from edge.unit.decide import DecisionPolicy
from edge.unit.doorpolicy import DAYS, Day, DoorPolicy, Rule, parse_hours
from edge.yamlfile import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Strict):
    source: str = Field(description="picamera2, /dev/videoN or a camera index, an rtsp:// or http:// URL, a video file or an image folder")
    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=64, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    reconnect_max_s: float = Field(30.0, gt=0)
    realtime: bool = Field(False, description="play a video file at its frame rate, like a camera (default: every frame, as fast as possible)")


class ModelsConfig(_Strict):
    dir: Path | None = Field(None, description="folder of model folders; default: the bundled models/")
    detector: Literal["yunet", "blazeface"] = "yunet"
    embedder: str = "sface"
    threads: int = Field(2, ge=1, le=16)
    edgetpu: str | None = Field(None, description="Coral device: usb, pci, usb:0 ...; null for the CPU")
    cpu_fallback: bool = Field(False, description="run on the CPU when the Edge TPU cannot be opened (logged)")
    attributes: bool = False
    tiles: int = Field(0, ge=0, le=4)
    calibration: Path | None = Field(None, description="a false-accept calibration from edgeface calibrate --out; default: the embedder manifest's")

    @field_validator("dir")
    @classmethod
    def _dir_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_dir():
            raise ValueError(f"folder {v} does not exist; point it at a folder of model folders or remove the key")
        return v

    @field_validator("calibration")
    @classmethod
    def _calibration_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"file {v} does not exist; write one with edgeface calibrate --out FILE, or remove the key")
        return v


_POLICY, _GATES = DecisionPolicy(), QualityGates()  # the defaults live with the stages that use them


class DecisionConfig(_Strict):
    window_frames: int = Field(_POLICY.window_frames, ge=1, le=300, description="a track's last N good frames are averaged into one embedding")
    min_hits: int = Field(_POLICY.min_hits, ge=1, le=300, description="of those, at least this many must match the person on their own (K of N)")
    cooldown_s: float = Field(_POLICY.cooldown_s, ge=0)
    unknown_after_frames: int = Field(_POLICY.unknown_after_frames, ge=1)
    margin: float = Field(_POLICY.margin, ge=0, le=1, allow_inf_nan=False, description="the best person's similarity must beat the second best by this much")
    max_frames: int = Field(_POLICY.max_frames, ge=1, le=1000, description="a track is decided on its first N good frames (the visit factor was measured on 40)")

    @model_validator(mode="after")
    def _hits_fit_window(self) -> DecisionConfig:
        if self.min_hits > self.window_frames:
            raise ValueError(f"min_hits ({self.min_hits}) cannot exceed window_frames ({self.window_frames})")
        if self.unknown_after_frames > self.max_frames:
            raise ValueError(f"unknown_after_frames ({self.unknown_after_frames}) cannot exceed max_frames ({self.max_frames})")
        return self


_RATE = "a probability per stranger's visit, e.g. 1e-2; turned into a cosine threshold by the embedder's calibration, " \
        "corrected for the number of enrolled templates"


class RecognitionConfig(_Strict):
    announce_far: float = Field(1e-4, gt=0, lt=1, allow_inf_nan=False,
                                description="chance that a stranger's visit is announced as an enrolled person: " + _RATE)
    cosine_threshold: float | None = Field(None, gt=0, le=1, allow_inf_nan=False,
                                           description="expert override: a raw cosine threshold for announcing instead of announce_far")
    min_face_px: int = Field(int(_GATES.min_face_px), ge=8)
    min_sharpness: float = Field(_GATES.min_sharpness, ge=0, description="variance of the Laplacian of the aligned face")
    max_yaw_ratio: float = Field(_GATES.max_yaw_ratio, gt=0, le=1)
    decision: DecisionConfig = DecisionConfig()


class StoreConfig(_Strict):
    path: Path
    outbox_max_events: int = Field(10_000, ge=10)

    @field_validator("path")
    @classmethod
    def _in_a_folder(cls, v: Path) -> Path:
        if v.is_dir():
            raise ValueError(f"{v} is a folder; expected the store's file name in it, e.g. {v / 'edgeface.db'}")
        if not v.parent.is_dir():  # a mistyped folder would silently start an empty store
            raise ValueError(f"folder {v.parent} does not exist; check the path for a typo, or create it "
                             f"(the systemd unit's StateDirectory makes /var/lib/edgeface)")
        return v


class TLSConfig(_Strict):
    ca_file: Path
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False

    @field_validator("ca_file", "certfile", "keyfile")
    @classmethod
    def _file_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"file {v} does not exist")
        return v


class MQTTConfig(_Strict):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    tls: TLSConfig | None = None
    username: str | None = None
    password: SecretStr | None = Field(None, description="prefer password_file or password_env")
    password_file: Path | None = None
    password_env: str | None = None
    client_id: str | None = None
    topic_prefix: str = "edgeface"
    discovery_prefix: str = "homeassistant"
    keepalive_s: int = Field(60, ge=5)
    publish_images: bool = False
    publish_embeddings: bool = False

    @field_validator("password_file")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is None:
            return v
        fix = "expected a file holding the broker password (mode 600)"
        if v.is_dir():
            raise ValueError(f"{v} is a folder; {fix}")
        try:
            text = v.read_text()
        except FileNotFoundError:
            raise ValueError(f"file {v} does not exist; create it with the broker password (mode 600)") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"file {v} cannot be read ({getattr(e, 'strerror', None) or e}); {fix}, readable by the service user") from None
        if not text.strip():
            raise ValueError(f"file {v} is empty; {fix}")
        return v

    @field_validator("topic_prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        """Topics are published under these: a wildcard, an empty level or a NUL would make every
        publish fail (paho refuses them), so the unit would never be heard."""
        fix = "expected topic levels joined by '/', such as edgeface or home/door"
        if not v:
            raise ValueError(f"is empty; {fix}")
        bad = sorted({c for c in v if c in "#+\x00"})
        if bad:
            raise ValueError(f"contains {', '.join(repr(c) for c in bad)}: MQTT wildcards and NUL cannot be published to; {fix}")
        if v.startswith("/") or v.endswith("/") or "//" in v:
            raise ValueError(f"has an empty topic level (a leading, trailing or doubled '/'); {fix}")
        if v.startswith("$"):
            raise ValueError(f"starts with '$', which brokers reserve for their own topics ($SYS); {fix}")
        return v

    @field_validator("password_env")
    @classmethod
    def _env_set(cls, v: str | None) -> str | None:
        if v is not None and v not in os.environ:
            raise ValueError(f"environment variable {v} is not set")
        return v

    @model_validator(mode="after")
    def _one_password_source(self) -> MQTTConfig:
        given = [k for k in ("password", "password_file", "password_env") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of password, password_file, password_env (found {', '.join(given)})")
        return self

    def password_value(self) -> str | None:
        """The broker password, read from its source when needed (never logged)."""
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        if self.password_env is not None:
            return os.environ[self.password_env]
        return self.password.get_secret_value() if self.password else None


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DoorRuleConfig(_Strict):
    people: list[str] = Field(min_length=1, description="enrolled names this rule lets in")
    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    hours: str = Field("00:00-24:00", description="HH:MM-HH:MM in door.timezone; an end before the start crosses midnight")

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        parse_hours(v)
        return v

    def rule(self) -> Rule:
        start, end = parse_hours(self.hours)
        return Rule(frozenset(self.people), frozenset(DAYS.index(d) for d in self.days), start, end)


class DoorConfig(_Strict):
    enabled: bool = False
    gpio_pin: int = Field(17, ge=0, le=40)
    pulse_s: float = Field(1.0, gt=0, le=30)
    allowed: list[str] = Field(default_factory=list, description="people allowed to open this door at any time")
    rules: list[DoorRuleConfig] = Field(default_factory=list, description="people allowed on some days and hours only")
    timezone: str | None = Field(None, description="IANA zone for rules' hours, e.g. Europe/Berlin; default: the unit's local zone")
    liveness_required: bool = Field(True, description="open only for a track that liveness judged live")
    far: float = Field(1e-5, gt=0, lt=1, allow_inf_nan=False, description="chance that a stranger's visit opens the door: " + _RATE)
    cosine_threshold: float | None = Field(None, gt=0, le=1, allow_inf_nan=False,
                                           description="expert override: a raw cosine threshold for the door instead of far")
    audit_retention_days: float = Field(365.0, gt=0, le=3650, description="door audit entries older than this are deleted")
    command_secret: SecretStr | None = Field(None, description="HMAC key for signed door commands over MQTT; without one (or "
                                             "command_secret_env) the unit subscribes to no command topic")
    command_secret_env: str | None = Field(None, description="name of an environment variable holding the command secret")
    command_window_s: float = Field(30.0, ge=1, le=600, description="signed commands older (or newer) than this are refused")
    ha_switch: bool = Field(False, description="a Home Assistant switch that can disable the door unsigned (enabling stays signed)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Berlin or UTC "
                                 "(Debian: apt install tzdata)") from None
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> DoorConfig:
        if self.command_secret is not None and self.command_secret_env is not None:
            raise ValueError("set command_secret or command_secret_env, not both")
        if self.command_secret_env is not None and not os.environ.get(self.command_secret_env):
            raise ValueError(f"environment variable {self.command_secret_env} (door.command_secret_env) is not set or empty")
        if self.ha_switch and self.secret() is None:
            raise ValueError("door.ha_switch needs a command secret (door.command_secret or command_secret_env) for enabling")
        return self

    def secret(self) -> str | None:
        if self.command_secret_env is not None:
            return os.environ.get(self.command_secret_env) or None
        return self.command_secret.get_secret_value() if self.command_secret else None

    def policy(self) -> DoorPolicy:
        rules = ((Rule(frozenset(self.allowed)),) if self.allowed else ()) + tuple(r.rule() for r in self.rules)
        return DoorPolicy(rules, ZoneInfo(self.timezone) if self.timezone else None, self.liveness_required)


class LivenessConfig(_Strict):
    enabled: bool | None = Field(None, description="presentation-attack detection on matched tracks; default: on when the door is")
    frames: int | None = Field(None, ge=2, le=120, description="frames of a matched track observed before judging it (default: the measured 20)")
    max_wait_s: float | None = Field(None, gt=0, le=30, description="judge with the frames seen so far after this long (default 3 s)")
    threshold: float | None = Field(None, gt=0, lt=1, allow_inf_nan=False,
                                    description="expert override: the fused live score a track needs (default: the measured one)")


class HomeAssistantConfig(_Strict):
    """Home Assistant's MQTT discovery (edge.unit.discovery); the prefix is ``mqtt.discovery_prefix``."""

    discovery: Literal["components", "device", "off"] = Field(
        "components", description="components: one config per entity (every HA); device: one config with cmps (HA 2024.12+)")
    suggested_area: str | None = Field(None, max_length=100, description="the area Home Assistant proposes for the device")
    configuration_url: str | None = Field(None, pattern=r"^https?://", description="a link on the device page (e.g. the console)")
    face_image: bool = Field(False, description="an image entity with the last face crop (privacy: off unless asked)")
    diagnostics_interval_s: float = Field(30.0, ge=1.0, description="how often the diagnostic sensors are refreshed")


class ConsoleConfig(_Strict):
    """The local web console (``edgeface console``, or with the daemon when ``enabled``)."""

    enabled: bool = Field(False, description="serve the console from the daemon, and keep unknown faces and the event history for it")
    host: str = Field("127.0.0.1", description="address to listen on; 127.0.0.1: this unit only. 0.0.0.0: the home network (login required)")
    port: int = Field(8080, ge=1, le=65535)
    tls_cert: Path | None = Field(None, description="PEM certificate for HTTPS (with tls_key); or put the console behind a reverse proxy")
    tls_key: Path | None = None
    unknown_retention_days: float = Field(7.0, gt=0, le=365, description="unknown faces (crop and embedding) older than this are deleted")
    events_retention_days: float = Field(30.0, gt=0, le=3650, description="the event history (with face thumbnails) older than this is deleted")

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("console.tls_cert and console.tls_key go together: set both (HTTPS) or neither")
        for f in (self.tls_cert, self.tls_key):
            if f is not None and not f.is_file():
                raise ValueError(f"console TLS file {f} does not exist; point tls_cert/tls_key at PEM files or remove them")
        return self


class DeviceConfig(_Strict):
    device_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    camera: CameraConfig
    models: ModelsConfig = ModelsConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    store: StoreConfig
    mqtt: MQTTConfig = MQTTConfig()
    logging: LoggingConfig = LoggingConfig()
    door: DoorConfig = DoorConfig()
    liveness: LivenessConfig = LivenessConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    console: ConsoleConfig = ConsoleConfig()

    @property
    def liveness_on(self) -> bool:
        return self.door.enabled if self.liveness.enabled is None else self.liveness.enabled

    @model_validator(mode="after")
    def _door_stricter(self) -> DeviceConfig:
        if self.door.enabled and self.door.liveness_required and self.liveness.enabled is False:
            raise ValueError("door.liveness_required is on but liveness.enabled is false: a door that needs liveness would never "
                             "open; enable liveness or set door.liveness_required: false")
        if self.door.far > self.recognition.announce_far:
            raise ValueError(f"door.far ({self.door.far:g}) must be at most recognition.announce_far ({self.recognition.announce_far:g}): "
                             "opening the door must be at least as strict as announcing a name")
        return self


def _format(e: ValidationError, source: str) -> str:
    lines = [f"{source}: {e.error_count()} problem(s):"]
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key; check its spelling against firmware_configs/dev-x86.yaml"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        found = err.get("input")
        scalar = isinstance(found, (str, int, float, bool)) or found is None
        value = "" if kind == "missing" or "password" in path or "secret" in path or not scalar else f" (found {found!r})"
        lines.append(f"  {path}: {msg}{value}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "config") -> DeviceConfig:
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, source)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DeviceConfig:
    """Read a YAML device config; ``overrides`` maps dotted key paths (``mqtt.port``) to values."""
    p = Path(path)
    data = read_yaml(p, ConfigError, what="config file", missing="start from one in firmware_configs/")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings at the top level, found {type(data).__name__}")
    return parse_config(apply_overrides(data, overrides or {}), str(p))


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted key paths (``mqtt.port``) in raw config ``data`` (in place; returned)."""
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = value
    return data
