"""A cache of derived outputs under ``.kcrm/cache/``, keyed by everything they derive from.

Generating the checks of 56 contracts costs about a third of a second and every ``kcrm-gov
test`` did it again, from the same contracts. An entry's key is a hash of its inputs (the
contract files' digests, the target, the engine) and of the code (this package's version,
the size and time of every module, so an editable install that changed the generator does
not read old output, and the versions of the libraries that shape the output). Every read
returns a fresh copy, so callers may change what they get. A missing, unreadable or foreign
entry is rebuilt, and so is one of the wrong shape: callers pass ``valid``, a test of what they
will use (a truncated pickle of the right key, an entry written by other code); failing to write
one is not an error: the cache only ever saves time.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from . import __version__

T = TypeVar("T")
CACHE_DIR = "cache"
KEEP = 8
"""Entries kept per kind (the newest); older ones are removed when a new one is written."""
_FORMAT = 1


LIBRARIES = ("sqlglot", "duckdb", "PyYAML", "soda-core", "open-data-contract-standard")
"""Libraries whose version changes what is generated or parsed (transpiled SQL, type names)."""


@functools.cache
def code_fingerprint() -> str:
    """This package's version, the size and modification time of each of its modules, and the
    versions of the :data:`LIBRARIES` that shape its outputs."""
    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{__version__}/{_FORMAT}".encode())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={version(name)};".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=-;".encode())
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def cache_key(parts: Iterable[str]) -> str:
    """A key for inputs ``parts`` (strings), with the code fingerprint folded in."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


MEMORY_BYTES = 64 * 2**20
"""What a process keeps in memory, newest first. Entries are small (a model's read list or compiled
SQL: a few kilobytes; every contract's checks: about a megabyte), and a build touches one of each
kind per model: a count of entries would drop the checks of a project as soon as it was built."""
_memory: dict[tuple[str, str], bytes] = {}
_memory_bytes = 0
_memory_lock = threading.Lock()


def load(state_dir: Path, kind: str, key: str, valid: Callable[[Any], bool] | None = None) -> Any | None:
    """The entry ``key`` of ``kind`` (a fresh copy each call), or None when there is none or it is
    unreadable, or (with ``valid``) when ``valid(entry)`` is not true."""
    data = _memory.get((kind, key))
    if data is None:
        try:
            data = (state_dir / CACHE_DIR / kind / f"{key}.pickle").read_bytes()
        except OSError:
            return None
    try:
        value = pickle.loads(data)  # our own file, under the ignored state folder
        ok = valid is None or bool(valid(value))
    except Exception:  # truncated, written by other code, or a shape the check chokes on: as if missing
        ok = False
    if not ok:
        _forget(kind, key)
        return None
    _remember(kind, key, data)
    return value


def store(state_dir: Path, kind: str, key: str, value: object, keep: int = KEEP) -> None:
    """Keep ``value`` as the entry ``key`` of ``kind`` (in this process and on disk; the newest
    ``keep`` entries of the kind stay on disk)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    _remember(kind, key, data)
    _store(state_dir / CACHE_DIR / kind, f"{key}.pickle", data, keep)


def _forget(kind: str, key: str) -> None:
    global _memory_bytes
    with _memory_lock:
        old = _memory.pop((kind, key), None)
        _memory_bytes -= len(old) if old is not None else 0


def _remember(kind: str, key: str, data: bytes) -> None:
    global _memory_bytes
    with _memory_lock:  # build workers compile models on threads
        old = _memory.pop((kind, key), None)
        _memory[(kind, key)] = data
        _memory_bytes += len(data) - (len(old) if old is not None else 0)
        while _memory_bytes > MEMORY_BYTES and len(_memory) > 1:  # a long-lived process keeps the newest
            _memory_bytes -= len(_memory.pop(next(iter(_memory))))


def forget_in_memory() -> None:
    """Drop what this process keeps in memory: the next lookups read ``.kcrm/cache``, as a new process would."""
    global _memory_bytes
    with _memory_lock:
        _memory.clear()
        _memory_bytes = 0
        _objects.clear()


def cached(state_dir: Path, kind: str, key: str, build: Callable[[], T],
           valid: Callable[[Any], bool] | None = None, keep: int = KEEP) -> T:
    """The output ``build()`` makes for ``key``: from this process, from ``.kcrm/cache/<kind>/``,
    or built now (and stored). An entry failing ``valid`` (of the wrong shape) is rebuilt and replaced."""
    value = load(state_dir, kind, key, valid)
    if value is None:
        value = build()
        store(state_dir, kind, key, value, keep)
    return value


OBJECTS_KEPT = 1_000
"""Objects :func:`shared` keeps in a process, newest first: a project's contracts several times over."""
_objects: dict[tuple[str, str], Any] = {}


def shared(state_dir: Path, kind: str, key: str, build: Callable[[], T],
           valid: Callable[[Any], bool] | None = None, keep: int = KEEP) -> T:
    """As :func:`cached`, but the process keeps the object itself and each call returns a shallow copy.

    For values whose parts are never changed once built (a parsed contract: its YAML, ODCS model and
    columns): unpickling is then paid once per process, not once per call. A test process loads the
    shipped project hundreds of times (each command run in it loads all 152 contracts: 0.14-0.4 s,
    most of it unpickling them). Each caller gets its own top-level object, so what it sets on it
    (its file, a cached property) stays its own; the parts are shared and must not be changed."""
    with _memory_lock:
        kept = _objects.pop((kind, key), None)
        if kept is not None:
            _objects[(kind, key)] = kept  # the newest again
    if kept is None:
        kept = cached(state_dir, kind, key, build, valid, keep)
        _forget(kind, key)  # the object is kept: its pickled bytes would be a second copy in memory
        with _memory_lock:
            _objects[(kind, key)] = kept
            while len(_objects) > OBJECTS_KEPT:
                _objects.pop(next(iter(_objects)))
    return copy.copy(kept)


def in_memory(kind: str, key: str, build: Callable[[], T]) -> T:
    """The output ``build()`` makes for ``key``, kept in this process only (a fresh copy each call):
    for what is cheaper to build than to read from disk, but is built again and again in a
    long-lived process (tests, a scheduler)."""
    data = _memory.get((kind, key))
    if data is not None:
        _remember(kind, key, data)  # the newest again, as load() does: what is used often stays
        value: T = pickle.loads(data)  # our own bytes, made below
        return value
    value = build()
    _remember(kind, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def _store(folder: Path, name: str, data: bytes, keep: int = KEEP) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, folder / name)  # readers see the old entry or the new one, never half
        finally:
            Path(tmp).unlink(missing_ok=True)
        _evict(folder, keep)
    except OSError:
        return  # a read-only checkout still works, just without the saving


def _evict(folder: Path, keep: int) -> None:
    """Remove the oldest entries of ``folder`` once it holds more than ``keep``, down to nine tenths of
    ``keep``: a store only lists the folder, and reads entries' times only when some must go (reading
    them on every store made storing a kind's n-th entry cost n ``stat`` calls)."""
    names = [name for name in os.listdir(folder) if name.endswith(".pickle")]
    if len(names) <= keep:
        return
    times: list[tuple[int, str]] = []
    for name in names:
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            times.append((os.stat(folder / name).st_mtime_ns, name))
    times.sort(reverse=True)
    for _, name in times[max(1, keep * 9 // 10):]:
        (folder / name).unlink(missing_ok=True)


__all__ = ["cache_key", "cached", "code_fingerprint", "forget_in_memory", "in_memory", "load", "shared", "store"]
