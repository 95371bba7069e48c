"""YAML loading that remembers where every value came from.

Lint findings and load errors must point at the real line of the file, so a document is
composed into PyYAML nodes once and both the data and a ``path -> (line, column)`` index
are built from the same node tree.

Contracts arrive in pull requests, so parsing is bounded before anything is built from the
text (:func:`bounded_problem`): a file larger than :data:`MAX_BYTES`, nesting deeper than
:data:`MAX_DEPTH`, more than :data:`MAX_NODES` values, any anchor or alias, and a NUL character
in a value are refused with the file and line. Aliases are what a "billion laughs" document multiplies; a contract
never needs one (ODCS has no use for them, and a reviewer should see every value written out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ContractError, Location

try:  # the C loader is ~10x faster; fall back where libyaml is absent
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

PathKey = tuple[str | int, ...]

MAX_BYTES = 1024 * 1024
"""The largest YAML file kcrm-gov reads (the largest shipped contract is under 20 KB)."""
MAX_DEPTH = 64
"""The deepest nesting of mappings and sequences (a contract nests about ten levels)."""
MAX_NODES = 200_000
"""The most scalars, mappings and sequences in one file."""


def bounded_problem(text: str, source: Path) -> ContractError | None:
    """Why ``text`` may not be parsed further (size, depth, node count, anchors, aliases), or None.

    Runs on libyaml's event stream, which is linear in the text whatever the text says, so a
    hostile file is refused in milliseconds.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        return ContractError(f"the file is {size:,} bytes; kcrm-gov reads YAML files of at most {MAX_BYTES:,} bytes",
                             Location(source, 1, 1))
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                return ContractError(f"YAML alias '*{event.anchor}' is not allowed: write the value out (aliases "
                                     "can expand a small file into an enormous document)", _at(source, event))
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if event.anchor is not None:
                    return ContractError(f"YAML anchor '&{event.anchor}' is not allowed: write every value out",
                                         _at(source, event))
                if nodes > MAX_NODES:
                    return ContractError(f"more than {MAX_NODES:,} YAML values in one file", _at(source, event))
            if isinstance(event, yaml.ScalarEvent) and "\x00" in event.value:
                # no SQL engine reads a NUL inside a string literal: it would cut the value short
                return ContractError("a value holds a NUL character (\\0), which kcrm-gov does not accept",
                                     _at(source, event))
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return ContractError(f"YAML nested more than {MAX_DEPTH} levels deep", _at(source, event))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # malformed YAML: the full parse reports it with its position
    return None


def _at(source: Path, event: yaml.Event) -> Location:
    mark = event.start_mark
    return Location(source, mark.line + 1, mark.column + 1) if mark else Location(source, 1, 1)


@dataclass
class YamlDocument:
    """A parsed YAML document with the position of every node."""

    path: Path
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    digest: str = ""  # sha256 of the text it was parsed from: what caches of derived outputs key on

    def location(self, *keys: str | int) -> Location:
        """The closest known location of ``keys`` (falls back to the nearest parent)."""
        key: PathKey = tuple(keys)
        while key:
            if key in self.positions:
                line, col = self.positions[key]
                return Location(self.path, line, col)
            key = key[:-1]
        return Location(self.path, 1, 1)


def _index(node: yaml.Node, path: PathKey, out: dict[PathKey, tuple[int, int]],
           source: Path) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise ContractError(
                    f"duplicate key '{key}' (first defined on line {seen[key]})",
                    Location(source, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                )
            seen[key] = key_node.start_mark.line + 1
            # a key's own position is more useful than its value's for a finding about the key
            out[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _index(value_node, (*path, key), out, source)
            out[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), out, source)


def parse_yaml(text: str, source: Path) -> YamlDocument:
    """Parse ``text`` (read from ``source``) into a :class:`YamlDocument`.

    Raises :class:`ContractError` naming the file, line and column for malformed YAML,
    duplicate keys, an empty document, or a document beyond the bounds of :func:`bounded_problem`.
    """
    from .cache import in_memory

    digest = hashlib.sha256(text.encode()).hexdigest()
    # a long-lived process (a scheduler, the tests) loads the same project again and again; only
    # a text that parsed is remembered, so every problem is found afresh
    data, positions = in_memory("yaml", digest, lambda: _parse(text, source))
    return YamlDocument(source, data, positions, digest)


def _parse(text: str, source: Path) -> tuple[Any, dict[PathKey, tuple[int, int]]]:
    problem = bounded_problem(text, source)
    if problem is not None:
        raise problem
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ContractError("the file is empty", Location(source, 1, 1))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(source, mark.line + 1, mark.column + 1) if mark else Location(source)
        reason = exc.problem or exc.context or "invalid YAML"
        raise ContractError(f"malformed YAML: {reason}", where) from None
    except yaml.YAMLError as exc:
        raise ContractError(f"malformed YAML: {exc}", Location(source)) from None
    finally:
        loader.dispose()
    positions: dict[PathKey, tuple[int, int]] = {}
    _index(node, (), positions, source)
    return data, positions


def read_yaml(path: Path, display: Path | None = None) -> YamlDocument:
    """Read and parse a YAML file; unreadable files raise :class:`ContractError`.

    ``display`` is the path shown in messages (usually relative to the project root).
    """
    shown = display or path
    return parse_yaml(read_text(path, shown), shown)


def read_text(path: Path, display: Path | None = None) -> str:
    """The text of a YAML file (at most :data:`MAX_BYTES`); unreadable files raise :class:`ContractError`
    naming ``display`` (default: ``path``)."""
    shown = display or path
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # refused before reading it into memory
            raise ContractError(f"the file is {size:,} bytes; kcrm-gov reads YAML files of at most {MAX_BYTES:,} "
                                "bytes", Location(shown, 1, 1))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError("no such file", Location(shown)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"cannot read the file: {exc}", Location(shown)) from None
    return text
