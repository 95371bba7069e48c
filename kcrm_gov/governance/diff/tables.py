"""Table comparison: tables removed, added or renamed; each kept contract compared field by field
(columns through the column rules, key, quality, SLA, documentation, status, ownership, other
metadata); models changed under an unchanged contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...contracts import SENSITIVE_CLASSIFICATIONS, Contract
from ...project import Project
from .columns import column_changes, quality_deltas
from .destinations import destination_changes, without_destination
from .impact import dependency_graph, has_dependents
from .model import ADDITIVE, BREAKING, DOCUMENTATION, IMPLEMENTATION, Change, TableDiff, table_order
from .sla import sla_changes
from .types import type_text

# contract keys compared field by field; everything else is compared as "other metadata"
# "servers" is generated from kcrm_gov.yml (`kcrm-gov generate servers`, checked by the gate): a target
# change rewrites every contract's block and is no change to the contract itself
_HANDLED_KEYS = {"version", "status", "schema", "slaProperties", "description", "contractCreatedTs", "team",
                 "servers"}


class Differ:
    """Compares every table of ``base`` with ``head``."""

    def __init__(self, base: Project, head: Project) -> None:
        self.base, self.head = base, head
        self.base_graph = dependency_graph(base)
        self.head_graph = dependency_graph(head)

    def diff(self) -> list[TableDiff]:
        """Every table with a change (or unreadable on either side), upstream layers first."""
        out: dict[str, TableDiff] = {}
        removed = sorted(set(self.base.contracts) - set(self.head.contracts))
        added = sorted(set(self.head.contracts) - set(self.base.contracts))
        renamed = self._table_renames(removed, added)
        for old, new in renamed.items():
            after = self.head.contracts[new]
            out.setdefault(old, TableDiff(old)).changes.append(Change(
                old, BREAKING, "table_renamed", f"table {old} renamed to {new}", before=old, after=new,
                path=str(after.path), line=after.location("name").line))
        for name in removed:
            if name in renamed:
                continue
            c = self.base.contracts[name]
            out.setdefault(name, TableDiff(name)).changes.append(Change(
                name, BREAKING, "table_removed", f"table {name} removed (contract {c.path} deleted)",
                before=c.version, path=str(c.path), line=1))
        for name in added:
            if name in renamed.values():
                continue
            c = self.head.contracts[name]
            out.setdefault(name, TableDiff(name)).changes.append(Change(
                name, ADDITIVE, "table_added", f"table {name} added (version {c.version})", after=c.version,
                path=str(c.path), line=1))
            out[name].changes.extend(destination_changes(None, c))  # a new sync is a change to an external system
        for name in sorted(set(self.base.contracts) & set(self.head.contracts)):
            changes = self.contract_changes(self.base.contracts[name], self.head.contracts[name])
            changes += self.model_changes(name)
            if changes:
                out.setdefault(name, TableDiff(name)).changes.extend(changes)
        for name in sorted(set(self.base.unreadable) | set(self.head.unreadable)):
            out.setdefault(name, TableDiff(name))
        return [out[k] for k in sorted(out, key=table_order)]

    def _table_renames(self, removed: list[str], added: list[str]) -> dict[str, str]:
        """A removed and an added table of the same layer with the same columns: a rename."""
        out: dict[str, str] = {}
        for old in removed:
            cols = _signature(self.base.contracts[old])
            for new in added:
                if new in out.values() or new.split(".")[0] != old.split(".")[0]:
                    continue
                if _signature(self.head.contracts[new]) == cols:
                    out[old] = new
                    break
        return out

    def model_changes(self, name: str) -> list[Change]:
        """The model of ``name`` added, removed or changed (whitespace aside)."""
        old, new = self.base.models.get(name), self.head.models.get(name)
        if old is None and new is None:
            return []
        if old is None or new is None:
            what = "added" if old is None else "removed"
            present = new if new is not None else old
            assert present is not None  # one of the two exists (both None returned above)
            return [Change(name, IMPLEMENTATION, f"model_{what}", f"model for {name} {what}",
                           path=str(present.path), line=1)]
        if " ".join(old.sql.split()) == " ".join(new.sql.split()):
            return []
        if old.reference and new.reference and old.source_text is not None and new.source_text is not None:
            return self.reference_changes(name, old.source_text, new.source_text, new.path)
        return [Change(name, IMPLEMENTATION, "model_changed",
                       f"model {new.path} changed (its output is still enforced against the contract)",
                       path=str(new.path), line=1)]

    def reference_changes(self, name: str, old_text: str, new_text: str, path: Path) -> list[Change]:
        """Rows of a reference table added, removed or changed: data every downstream table uses."""
        from ...reference import ReferenceError, row_changes

        contract = self.head.contracts.get(name)
        key = [c.name for c in sorted((c for c in contract.columns if c.primary_key_position),
                                      key=lambda c: c.primary_key_position or 0)] if contract else []
        sensitive = {c.name for c in contract.columns if c.classification in SENSITIVE_CLASSIFICATIONS} \
            if contract else set()
        try:
            rows = row_changes(old_text, new_text, key, path)
        except ReferenceError as exc:
            return [Change(name, IMPLEMENTATION, "model_changed", f"reference file {path} changed ({exc.message})",
                           path=str(path), line=1)]
        out = []
        for change, message, column in rows:
            if column in sensitive:  # a classified value never leaves the warehouse, not even in a diff
                message = f"{message.split(':')[0]}: {column} changed"
            out.append(Change(name, IMPLEMENTATION, change, f"{path}: {message}", column, path=str(path), line=1))
        return out

    def contract_changes(self, old: Contract, new: Contract) -> list[Change]:
        """Every difference between two versions of one contract, each at its line in ``new``."""
        changes: list[Change] = []
        t = new.qualified_name

        def add(kind: str, change: str, message: str, *keys: str | int, column: str | None = None,
                before: Any = None, after: Any = None) -> None:
            where = new.location(*keys) if keys else new.location()
            changes.append(Change(t, kind, change, message, column, before, after, str(new.path),
                                  where.line or 1))

        # columns, nested fields included, by dotted path
        old_cols, new_cols = dict(old.all_columns()), dict(new.all_columns())
        gone = [p for p in old_cols if p not in new_cols]
        came = [p for p in new_cols if p not in old_cols]
        renames = _column_renames(old, new, gone, came)
        for before, after in renames.items():
            add(BREAKING, "column_renamed", f"column {before} renamed to {after}", *new_cols[after].yaml_path,
                column=before, before=before, after=after)
        for path in gone:
            # a field of a removed record is removed with it: one change, for the record
            if path in renames or any(path.startswith(g + ".") for g in gone):
                continue
            add(BREAKING, "column_removed", f"column {path} removed", "schema", 0, column=path,
                before=type_text(old_cols[path].data_type))
        for path in came:
            if path in renames.values() or any(path.startswith(g + ".") for g in came):
                continue
            col = new_cols[path]
            message = f"column {path} added ({type_text(col.data_type)})"
            if col.required and "." not in path:
                message += "; it is required, so writers must provide it"
            add(ADDITIVE, "column_added", message, *col.yaml_path, column=path, after=type_text(col.data_type))
        for path in [p for p in old_cols if p in new_cols]:
            changes.extend(column_changes(t, new, path, old_cols[path], new_cols[path]))

        if old.primary_key != new.primary_key:
            add(BREAKING, "primary_key_changed",
                f"primary key changed from ({', '.join(old.primary_key)}) to ({', '.join(new.primary_key)})",
                "schema", 0, before=old.primary_key, after=new.primary_key)

        # table-level quality rules
        for d in quality_deltas(old.table_quality, new.table_quality):
            add(d.kind, d.change, d.message, "schema", 0, "quality", before=d.before, after=d.after)

        changes.extend(sla_changes(t, old, new, depended=has_dependents(t, self.base_graph, self.head_graph)))
        changes.extend(destination_changes(old, new))

        # documentation
        for key in ("purpose", "usage", "limitations"):
            a = getattr(old.model.description, key, None) if old.model.description else None
            b = getattr(new.model.description, key, None) if new.model.description else None
            if (a or "") != (b or ""):
                add(DOCUMENTATION, "description_changed", f"description.{key} changed", "description", key)
        so, sn = old.schema_object, new.schema_object
        for key in ("description", "businessName"):
            if (getattr(so, key, None) or "") != (getattr(sn, key, None) or ""):
                add(DOCUMENTATION, "description_changed", f"table {key} changed", "schema", 0, key)

        if (old.status or "") != (new.status or ""):
            add(ADDITIVE, "status_changed", f"status changed from {old.status} to {new.status}", "status",
                before=old.status, after=new.status)

        if old.owner_team != new.owner_team or sorted(old.stewards) != sorted(new.stewards):
            add(ADDITIVE, "ownership_changed",
                f"owner changed from {old.owner_team} ({', '.join(old.stewards)}) to {new.owner_team} "
                f"({', '.join(new.stewards)})", "team",
                before={"team": old.owner_team, "stewards": old.stewards},
                after={"team": new.owner_team, "stewards": new.stewards})

        # anything else (tags, custom properties such as partitioning and clustering, servers…)
        a, b = _other_metadata(old), _other_metadata(new)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                add(ADDITIVE, "metadata_changed", f"{key} changed", key if key in b else "kind",
                    before=a.get(key), after=b.get(key))
        return changes


def _signature(contract: Contract) -> list[tuple[str, str]]:
    """Every column's path and type: what a renamed table keeps."""
    return [(p, type_text(c.data_type)) for p, c in contract.all_columns()]


def _other_metadata(c: Contract) -> dict[str, Any]:
    data = c.document.data if isinstance(c.document.data, dict) else {}
    out = {k: v for k, v in data.items() if k not in _HANDLED_KEYS}
    if "customProperties" in out:  # the destination is compared field by field (.destinations)
        out["customProperties"] = without_destination(out["customProperties"])
    return out


def _column_renames(old: Contract, new: Contract, gone: list[str], came: list[str]) -> dict[str, str]:
    """A removed and an added top-level column at the same position with the same type: a rename."""
    out: dict[str, str] = {}
    old_pos = {c.name: i for i, c in enumerate(old.columns)}
    new_pos = {c.name: i for i, c in enumerate(new.columns)}
    old_all, new_all = dict(old.all_columns()), dict(new.all_columns())
    for a in gone:
        if "." in a or a not in old_pos:
            continue
        for b in came:
            if "." in b or b in out.values() or b not in new_pos:
                continue
            if old_pos[a] == new_pos[b] and type_text(old_all[a].data_type) == type_text(new_all[b].data_type):
                out[a] = b
                break
    return out
