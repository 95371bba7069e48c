"""Where OpenLineage events go: ``lineage/openlineage.yml``, the client's env overrides, and the spool.

The configuration file holds the client's own ``transport:`` mapping (file, http, console, ...),
plus ``type: off`` to switch lineage off. Relative file paths are relative to the project root.
Environment variables override it, in this order (the OpenLineage client's standard variables):

1. ``OPENLINEAGE_DISABLED=true``: no events at all (lineage is not even computed);
2. ``OPENLINEAGE__TRANSPORT__*`` (for example ``OPENLINEAGE__TRANSPORT__TYPE=http`` and
   ``OPENLINEAGE__TRANSPORT__URL=…``): merged over the file's transport; a different ``TYPE``
   replaces the file's transport instead of merging into it;
3. ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_ENDPOINT`` and ``OPENLINEAGE_API_KEY``): an http transport,
   when no ``OPENLINEAGE__TRANSPORT__TYPE`` is set.

**The observer never breaks the job.** :class:`LineageSink` catches every transport error. An http
transport gets a bounded timeout (2 s unless configured) and no client-side retries unless
configured; the first failure opens a circuit for the rest of the process, so a dead or slow endpoint
costs one timeout per build, not one per event. Every event that was not delivered is appended to
``.kcrm/lineage/spool.jsonl``; :func:`flush_spool` (``kcrm-gov lineage flush``) resends them, each
exactly once: after each delivery the spool is rewritten without it (a temporary file renamed over
it), under an exclusive lock that emitters take too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConfigError, Location

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger(__name__)

CONFIG_FILE = Path("lineage") / "openlineage.yml"
SPOOL_FILE = Path("lineage") / "spool.jsonl"  # under the state dir (.kcrm/)
DEFAULT_EVENTS_FILE = ".kcrm/lineage/events/events.jsonl"
DEFAULT_HTTP_TIMEOUT = 2.0
OFF_TYPES = ("off", "none", "disabled")

DEFAULT_TRANSPORT: dict[str, Any] = {"type": "file", "log_file_path": DEFAULT_EVENTS_FILE, "append": True}


@dataclass
class LineageConfig:
    """The resolved transport configuration."""

    enabled: bool
    transport: dict[str, Any]
    origin: str  # where it came from, for messages
    client: dict[str, Any] = field(default_factory=dict)  # the rest of the file (filters, facets, tags)

    @property
    def kind(self) -> str:
        return str(self.transport.get("type") or "off") if self.enabled else "off"

    def describe(self) -> str:
        t = self.transport
        if not self.enabled:
            return f"off ({self.origin})"
        where = t.get("log_file_path") or t.get("url") or ""
        return f"{self.kind} {where} ({self.origin})".replace("  ", " ")


def load_config(project: Project) -> LineageConfig:
    """Read ``lineage/openlineage.yml`` (defaults when absent) and apply the env overrides."""
    from openlineage.client.client import OpenLineageClient

    path = project.root / CONFIG_FILE
    data: dict[str, Any] = {}
    origin = str(CONFIG_FILE) if path.exists() else "built-in default"
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", Location(CONFIG_FILE)) from None
        if not isinstance(loaded, dict):
            raise ConfigError("the OpenLineage configuration must be a mapping", Location(CONFIG_FILE))
        data = loaded
    transport = data.get("transport") if data else dict(DEFAULT_TRANSPORT)
    if transport is None:
        transport = dict(DEFAULT_TRANSPORT)
    if not isinstance(transport, dict) or "type" not in transport:
        raise ConfigError("`transport:` must be a mapping with a `type` (file, http, console or off)",
                          Location(CONFIG_FILE))
    transport = dict(transport)
    if transport.get("type") is False:  # YAML 1.1 reads a bare `off` as false
        transport["type"] = "off"
    client = {k: v for k, v in data.items() if k != "transport"}

    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return LineageConfig(False, transport, "OPENLINEAGE_DISABLED", client)
    env = (OpenLineageClient._load_config_from_env_variables() or {}).get("transport")
    if isinstance(env, dict) and env:
        env = dict(env)
        if str(env.get("type") or "") != "composite":
            env.pop("transports", None)  # the client aliases OPENLINEAGE_URL into these keys
        if env:
            if env.get("type") and str(env["type"]) != str(transport.get("type")):
                transport = env
            else:
                transport.update(env)
            origin = "OPENLINEAGE__TRANSPORT__* over " + origin
    elif os.environ.get("OPENLINEAGE_URL"):
        transport = {"type": "http", "url": os.environ["OPENLINEAGE_URL"],
                     "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage")}
        if os.environ.get("OPENLINEAGE_API_KEY"):
            transport["auth"] = {"type": "api_key", "apiKey": os.environ["OPENLINEAGE_API_KEY"]}
        origin = "OPENLINEAGE_URL"
    kind = str(transport.get("type") or "").lower()
    if kind in OFF_TYPES or kind == "noop":
        return LineageConfig(False, transport, origin, client)
    if kind == "file":
        file_path = Path(str(transport.get("log_file_path") or DEFAULT_EVENTS_FILE))
        transport["log_file_path"] = str(file_path if file_path.is_absolute() else project.root / file_path)
        transport.setdefault("append", True)
    if kind == "http":
        if not transport.get("url"):
            raise ConfigError("an http transport needs a `url`", Location(CONFIG_FILE))
        transport.setdefault("timeout", DEFAULT_HTTP_TIMEOUT)
        transport.setdefault("retry", {"total": 0})
    return LineageConfig(True, transport, origin, client)


def make_transport(config: LineageConfig) -> Any:
    """The openlineage-python transport for ``config`` (its own transport factory)."""
    from openlineage.client.transport import get_default_factory

    if config.kind == "file":
        Path(config.transport["log_file_path"]).parent.mkdir(parents=True, exist_ok=True)
    if config.kind == "console":
        _console_logging()
    try:
        return get_default_factory().create(config.transport)
    except Exception as exc:  # the factory raises whatever the transport's config raises
        raise ConfigError(f"cannot create the OpenLineage {config.kind} transport: {exc}",
                          Location(CONFIG_FILE)) from None


def _console_logging() -> None:
    """The client's console transport logs at INFO: send that logger to stderr."""
    logger = logging.getLogger("openlineage.client.transport.console")
    if not any(getattr(h, "_kcrm", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._kcrm = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


class LineageSink:
    """Sends events through the configured transport; never raises; spools what it cannot send."""

    def __init__(self, project: Project, config: LineageConfig | None = None, transport: Any = None) -> None:
        from openlineage.client import OpenLineageClient

        self.config = config or load_config(project)
        self.spool = Spool(project.state_dir / SPOOL_FILE)
        self.client = None
        if self.config.enabled:
            transport = transport or make_transport(self.config)
            client_config = {**self.config.client, "transport": self.config.transport}
            client_config.setdefault("facets", {}).setdefault("source_code_location", {"disabled": True})
            self.client = OpenLineageClient(transport=transport, config=client_config)
        self.lock = threading.Lock()
        self.sent = 0
        self.spooled = 0
        self.lost = 0  # events neither sent nor spooled (the spool itself failed)
        self.down: str | None = None  # why the transport was given up on, once it failed

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def emit(self, event: Any) -> bool:
        """Send one event (an openlineage-python event); True when the transport took it."""
        if self.client is None:
            return False
        with self.lock:
            if self.down is None:
                try:
                    self.client.emit(event)
                    self.sent += 1
                    return True
                except Exception as exc:  # the observer must never break the job
                    self.down = f"{type(exc).__name__}: {exc}"
                    log.warning("OpenLineage %s transport failed (%s): events go to %s until "
                                "`kcrm-gov lineage flush`", self.config.kind, self.down, self.spool.path)
            try:
                from openlineage.client.serde import Serde

                self.spool.append([Serde.to_json(event)])
                self.spooled += 1
            except Exception as exc:  # even the spool failing must not break the job
                self.lost += 1
                if self.lost == 1:  # once: a full disk fails every event the same way
                    log.warning("cannot spool OpenLineage events (%s): this run's events are lost", exc)
            return False

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=DEFAULT_HTTP_TIMEOUT)


class Spool:
    """A JSON-lines file of undelivered events, appended and rewritten under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, lines: list[str]) -> None:
        with self.locked(), open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(line.rstrip("\n") + "\n" for line in lines))

    def read(self) -> list[str]:
        try:
            return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _rewrite(self, lines: list[str]) -> None:
        if not lines:
            self.path.unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".spool.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        os.replace(tmp, self.path)


@dataclass
class FlushResult:
    """What ``lineage flush`` did."""

    sent: int = 0
    remaining: int = 0
    error: str | None = None
    transport: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "remaining": self.remaining, "error": self.error, "transport": self.transport,
                "ok": self.ok}


def flush_spool(project: Project, config: LineageConfig | None = None, transport: Any = None) -> FlushResult:
    """Resend the spooled events through the configured transport, oldest first.

    Stops at the first failure (the rest stay spooled). Each delivered event is removed at once,
    so a second flush, or a crash half-way, never sends an event twice.
    """
    config = config or load_config(project)
    spool = Spool(project.state_dir / SPOOL_FILE)
    result = FlushResult(transport=config.describe())
    if not config.enabled:
        result.remaining = len(spool.read())
        result.error = "lineage is off (lineage/openlineage.yml or OPENLINEAGE_DISABLED): nothing can be sent"
        return result if result.remaining else FlushResult(transport=result.transport)
    transport = transport or make_transport(config)
    try:
        with spool.locked():
            lines = spool.read()
            while lines:
                try:
                    transport.emit(json.loads(lines[0]))
                except ValueError as exc:
                    if isinstance(exc, json.JSONDecodeError):
                        log.warning("dropping an unreadable spooled event: %s", exc)
                        lines = lines[1:]
                        spool._rewrite(lines)
                        continue
                    result.error = f"{type(exc).__name__}: {exc}"
                    break
                except Exception as exc:
                    result.error = f"{type(exc).__name__}: {exc}"
                    break
                lines = lines[1:]
                spool._rewrite(lines)
                result.sent += 1
            result.remaining = len(lines)
    finally:
        with contextlib.suppress(Exception):
            transport.close()
    return result
