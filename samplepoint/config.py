"""Owns every configuration key: its type, default, check and one-line doc, loaded from one TOML file.

Each section is a frozen dataclass; each key is declared with `key()`, which carries the doc shown in
`samplepoint.example.toml` (generated from this module by `samplepoint config example`) and an
optional check that returns an error text. Unknown keys, wrong types and bad values raise
`ConfigError` naming the key and the fix, so a device refuses to start rather than misbehave.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

DEFAULT_PATH = Path("/etc/samplepoint/samplepoint.toml")
TEST_TYPES = ("rt-pcr", "rapid-antigen")


class ConfigError(ValueError):
    """A configuration problem, worded for the technician who has to fix the file."""


def key(default: Any, doc: str, check: Callable[[Any], str | None] | None = None):
    """Declare a configuration key with its default, its one-line doc and an optional value check."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": doc, "check": check})
    return field(default=default, metadata={"doc": doc, "check": check})


# --- value checks: each returns None when fine, else what is wrong and how to fix it -------------

def positive(value):
    return None if value > 0 else "must be greater than 0"


def at_least(low):
    return lambda value: None if value >= low else f"must be at least {low}"


def between(low, high):
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def one_of(*choices):
    return lambda value: None if value in choices else "must be one of: " + ", ".join(map(str, choices))


def identifier(value):
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return None
    return "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def regex(value):
    try:
        re.compile(value)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


def http_url(value):
    if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return None
    return "must be an http:// or https:// URL such as https://central.example.vn"


def utc_offset(value):
    return None if re.fullmatch(r"[+-](0\d|1[0-4]):[0-5]\d", value) else "must look like +07:00"


def camera_source(value):
    if value == "picamera2" or re.fullmatch(r"(replay|v4l2):.+", value):
        return None
    return "must be 'picamera2', 'v4l2:/dev/videoN' or 'replay:PATH'"


DECODERS = ("pyzbar", "zxing", "zxing+pyzbar", "pyzbar+zxing")


def gpio_pin(value):
    return None if 0 <= value <= 27 else "must be a BCM GPIO number 0-27 (0 = not wired)"


def staff_pin_entry(value):
    bad = [v for v in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[0-9a-f]{32}:[0-9a-f]{64}", v)]
    return None if not bad else ("entries must look like STAFF_ID:SALT:HASH as printed by "
                                 "`samplepoint staff pin STAFF_ID`")


# --- sections -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteConfig:
    """The sampling point this device serves."""
    id: str = key("SITE-DEMO", "Site id as registered at the central server.", identifier)
    name: str = key("Điểm lấy mẫu thử nghiệm", "Site name shown on screens and in exports.")
    pool_size: int = key(5, "Default people per tube (1 = single sample; 5 or 10 for pooled).",
                         between(1, 50))
    test_type: str = key("rt-pcr", "Default test type: rt-pcr or rapid-antigen.", one_of(*TEST_TYPES))
    sample_type: str = key("nasopharyngeal-swab", "Sample type recorded with each tube.")
    tube_pattern: str = key(r"^[A-Z0-9][A-Z0-9-]{5,31}$",
                            "Regular expression a tube barcode must match in full.", regex)
    utc_offset: str = key("+07:00", "Local UTC offset written into collection times.", utc_offset)


@dataclass(frozen=True)
class DeviceConfig:
    """This device and where it keeps its data."""
    id: str = key("DEV-DEMO-01", "Device id as registered at the central server.", identifier)
    data_dir: str = key("/var/lib/samplepoint", "Writable directory for the database and secrets.")


@dataclass(frozen=True)
class CentralConfig:
    """The central system that receives sample records."""
    url: str = key("http://127.0.0.1:8700", "Base URL of the central server.", http_url)
    token_file: str = key("/var/lib/samplepoint/device-token",
                          "File holding this device's bearer token (mode 0600).")
    ca_bundle: str = key("", "PEM file of CA certificates to trust; empty = system store.")
    timeout_s: float = key(10.0, "Seconds to wait for the central server per request.", positive)
    batch_size: int = key(200, "Records sent per request when a backlog drains.", between(1, 1000))
    backoff_base_s: float = key(1.0, "First retry delay in seconds (doubles per failure).", positive)
    backoff_cap_s: float = key(300.0, "Longest retry delay in seconds.", positive)
    poll_s: float = key(1.0, "Seconds between outbox checks when the queue is empty.", positive)


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from."""
    source: str = key("picamera2", "picamera2, v4l2:/dev/videoN, or replay:PATH (folder of images).",
                      camera_source)
    fps: float = key(15.0, "Frames per second requested from the camera or replayed.", between(1, 120))
    width: int = key(640, "Width of the frames decoded (picamera2 lores stream, v4l2 capture).",
                     between(160, 4056))
    height: int = key(480, "Height of the frames decoded.", between(120, 3040))
    preview_width: int = key(1280, "Width of the picamera2 main (preview) stream.", between(160, 4056))
    preview_height: int = key(720, "Height of the picamera2 main (preview) stream.", between(120, 3040))
    autofocus: bool = key(True, "Continuous autofocus on cameras that have it (Camera Module 3).")
    loop: bool = key(False, "Replay only: start again from the first frame after the last.")
    retry_s: float = key(5.0, "Seconds between attempts to open a missing or busy camera.", positive)


@dataclass(frozen=True)
class ScanConfig:
    """How codes seen by the camera become scans."""
    repeat_frames: int = key(30, "A code must leave view this many frames before it counts again.",
                             at_least(1))
    default_staff: str = key("unassigned", "Staff id recorded on tubes when nobody has signed in.",
                             identifier)
    decoder: str = key("zxing+pyzbar", "Decoder: zxing, pyzbar, or two joined by '+' (the second "
                       "runs only when the first finds nothing).", one_of(*DECODERS))
    code_key_file: str = key("/var/lib/samplepoint/code-key",
                             "File holding the site key (hex) that signs staff badges and "
                             "declaration codes (mode 0600).")


@dataclass(frozen=True)
class WorkflowConfig:
    """The staff workflow at the table."""
    require_sign_in: bool = key(True, "Refuse tube and person scans until a staff member signs in.")
    staff_pins: list[str] = key([], "PIN sign-in entries STAFF_ID:SALT:HASH (from `samplepoint "
                                "staff pin`); empty = badges only.", staff_pin_entry)
    other_tube_window_min: float = key(120.0, "Warn when a person was already put in another tube "
                                       "within this many minutes.", at_least(0))
    open_prompt_min: float = key(15.0, "Prompt staff when a tube has been open this many minutes.",
                                 positive)


@dataclass(frozen=True)
class FeedbackConfig:
    """Buzzer, lights and button at the table (BCM pin numbers; 0 = not wired)."""
    backend: str = key("gpio", "gpio (gpiozero pins below) or none (log only).", one_of("gpio", "none"))
    buzzer_pin: int = key(17, "Buzzer pin.", gpio_pin)
    tonal_buzzer: bool = key(False, "The buzzer is passive (tonal, PWM) rather than active (on/off).")
    green_pin: int = key(27, "Green LED pin (accepted).", gpio_pin)
    red_pin: int = key(22, "Red LED pin (refused, duplicate, error).", gpio_pin)
    amber_pin: int = key(23, "Amber LED pin (records waiting to be forwarded; warnings).", gpio_pin)
    button_pin: int = key(24, "Push button closing the open tube early.", gpio_pin)
    amber_after_s: float = key(300.0, "Light amber when a record has waited this long to be "
                               "forwarded.", positive)


@dataclass(frozen=True)
class Config:
    """The whole configuration of one device (or of a central server's client side)."""
    site: SiteConfig = field(default_factory=SiteConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    central: CentralConfig = field(default_factory=CentralConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    workflow: WorkflowConfig = field(default_factory=WorkflowConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)

    @property
    def db_path(self) -> Path:
        return Path(self.device.data_dir) / "samplepoint.db"


def sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}


def _type_name(tp) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list[str]: "a list of strings"}.get(tp, str(tp))


def _coerce(tp, value):
    """Return value as type tp, or raise TypeError. TOML integers are accepted where floats are."""
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, list) and all(isinstance(v, item) for v in value):
            return list(value)
    raise TypeError


def _build_section(name: str, cls: type, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{name}] must be a table; write it as a [{name}] section")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key {name}.{unknown[0]}; remove it or check its spelling "
                          f"(keys of [{name}]: {', '.join(known)})")
    values = {}
    for key_name, value in raw.items():
        tp = hints[key_name]
        try:
            value = _coerce(tp, value)
        except TypeError:
            raise ConfigError(f"{where}: {name}.{key_name} must be {_type_name(tp)}, "
                              f"got {value!r}") from None
        check = known[key_name].metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: {name}.{key_name} = {value!r} {problem}")
        values[key_name] = value
    return cls(**values)


def from_dict(raw: dict, where: str = "config") -> Config:
    """Build a Config from parsed TOML, raising ConfigError for anything unknown or invalid."""
    known = sections()
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}]; remove it or check its spelling "
                          f"(sections: {', '.join(known)})")
    built = {name: _build_section(name, cls, raw[name], where) for name, cls in known.items()
             if name in raw}
    return Config(**built)


def load(path: str | Path | None = None) -> Config:
    """Load and validate the TOML file at path (default /etc/samplepoint/samplepoint.toml)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file; pass --config FILE or copy "
                          f"samplepoint.example.toml to {DEFAULT_PATH}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); check the file's permissions") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    return from_dict(raw, str(path))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "'" not in value and "\n" not in value:
            return f"'{value}'"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def example_toml() -> str:
    """The documented example file: every section and key with its doc and default value."""
    lines = ["# samplepoint configuration. Every key is optional; shown here with its default.",
             "# Generated by `samplepoint config example`; tests keep it in step with samplepoint/config.py.",
             ""]
    for name, cls in sections().items():
        lines.append(f"# {cls.__doc__}")
        lines.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)
