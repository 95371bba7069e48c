"""Hand generated SodaCL to Soda Core's own parser, without its three slow steps.

Profiling ``kcrm-gov test`` showed Soda Core spending more time *reading* the checks than
running their SQL (about 0.9 s of 1.7 s for the 56 shipped tables): its parser loads YAML
with ruamel's pure-Python round-trip loader (only to know each key's line and column), for
every check it calls ``inspect.signature`` on the check class to see which arguments it takes,
and it runs its ANTLR grammar on every check line, most of which repeat. Those three are
replaced here, and nothing else: SodaCL semantics stay Soda's (its ``SodaCLParser``
builds every check configuration, its ``Scan`` runs them).

* YAML is loaded with libyaml (PyYAML's C parser) into dicts and lists that carry the
  ``lc.data`` positions Soda's ``PathStack`` reads, so error locations keep their line and
  column. The text is always our own generator's output (PyYAML's dumper, YAML 1.1), so
  PyYAML's resolver reads it back exactly as it was written — ruamel (YAML 1.2) reads a few
  plain scalars differently (``1e3`` becomes a float), which this avoids.
* ``inspect.signature`` of a class's ``__init__`` is memoised: the classes are fixed at import.
* The ANTLR parse of a check line is memoised per distinct line.

:func:`add_sodacl` is ``Scan.add_sodacl_yaml_str`` with that parser; a YAML syntax error is
logged on the scan, as Soda does, with the file, line and column.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import yaml


class _Positions:
    """What ruamel's ``lc`` offers Soda: ``data[key] = [line, column, ...]`` (0-based)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[Any, list[int]] = {}


class PositionedDict(dict):
    """A mapping read from YAML that knows where each of its keys was."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lc = _Positions()


class PositionedList(list):
    """A sequence read from YAML that knows where each of its items was."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lc = _Positions()


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml when available) building positioned collections."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    data = PositionedDict()
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=True)
        data.lc.data[key] = [key_node.start_mark.line, key_node.start_mark.column,
                             value_node.start_mark.line, value_node.start_mark.column]


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> Any:
    data = PositionedList()
    yield data
    for i, item in enumerate(node.value):
        data.append(loader.construct_object(item, deep=True))
        data.lc.data[i] = [item.start_mark.line, item.start_mark.column]


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_positioned(text: str) -> Any:
    """Load YAML into :class:`PositionedDict` / :class:`PositionedList` (libyaml)."""
    return yaml.load(text, Loader=_Loader)  # a safe loader (CSafeLoader)


class _Inspect:
    """``inspect`` for Soda's parser module, with ``signature`` memoised."""

    signature = staticmethod(functools.lru_cache(maxsize=None)(inspect.signature))

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)


@functools.cache
def _parser_class() -> type:
    """Soda's ``SodaCLParser`` with the libyaml loader (built once, on first use)."""
    from soda.sodacl import sodacl_parser
    from soda.sodacl.location import Location

    # The parser calls inspect.signature(cls.__init__) per check and per argument.
    sodacl_parser.inspect = _Inspect()

    class FastSodaCLParser(sodacl_parser.SodaCLParser):
        def _parse_yaml_str(self, yaml_str: str) -> Any:
            try:
                data = load_positioned(yaml_str)
            except yaml.MarkedYAMLError as exc:
                mark = exc.context_mark or exc.problem_mark
                location = Location(file_path=self.path_stack.file_path, line=mark.line + 1 if mark else None,
                                    col=mark.column + 1 if mark else None)
                self.logs.error("YAML syntax error", location=location, exception=exc)
                return None
            self.path_stack.set_antlr_collection_in_file_path_element(data)
            return data

        def antlr_parse_check(self, text: str) -> Any:
            return _antlr_check(text)

    @functools.lru_cache(maxsize=4096)
    def _antlr_check(text: str) -> Any:
        # A third of the checks repeat a line another table has ("row_count > 0"); the parse tree
        # is only read after parsing, so one tree per distinct line serves them all.
        return sodacl_parser.AntlrParser(text, lambda p: p.check())

    return FastSodaCLParser


def add_sodacl(scan: Any, text: str, file_path: str) -> None:
    """Add SodaCL ``text`` to ``scan`` (``Scan.add_sodacl_yaml_str`` with the fast parser)."""
    try:
        parser = _parser_class()(sodacl_cfg=scan._sodacl_cfg, logs=scan._logs, file_path=file_path,
                                data_source_name=scan._data_source_name)
        parser.parse_sodacl_yaml_str(text)
    except Exception as exc:  # Soda's own behaviour: the scan's logs carry the error
        scan._logs.error(f"Could not add SodaCL file {file_path}", exception=exc)


__all__ = ["PositionedDict", "PositionedList", "add_sodacl", "load_positioned"]
