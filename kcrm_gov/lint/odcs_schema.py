"""Validation against the upstream ODCS JSON Schema.

The schema is the one that ships with the ``open-data-contract-standard`` package (the same
file datacontract-cli validates against). It is compiled once per process with jsonschema-rs:
the pure-Python jsonschema spends ~85 ms a contract on ODCS's ``unevaluatedProperties``,
jsonschema-rs ~0.1 ms, which is what keeps ``kcrm-gov lint`` within its 2 s budget.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from ..yamlsource import YamlDocument
from .findings import Finding

RULE = "ODCS001"
_UNEXPECTED_CLAUSE = re.compile(r"\(([^()]*) (?:was|were) unexpected\)")


def _unexpected_keys(message: str) -> list[str]:
    clause = _UNEXPECTED_CLAUSE.search(message)
    return re.findall(r"'([^']+)'", clause.group(1)) if clause else []


def _schema_path() -> Path:
    spec = importlib.util.find_spec("open_data_contract_standard")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a broken install
        raise RuntimeError("the open-data-contract-standard package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "schema.json"


@cache
def _validator() -> Any:
    import jsonschema_rs

    schema = json.loads(_schema_path().read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema)


def schema_findings(doc: YamlDocument) -> list[Finding]:
    """Findings for every place where ``doc`` breaks the ODCS JSON Schema."""
    findings: set[Finding] = set()
    version = doc.data.get("apiVersion", "v3") if isinstance(doc.data, dict) else "v3"
    for error in _validator().iter_errors(doc.data):
        keys = list(error.instance_path)
        where = ".".join(str(k) for k in keys) or "(top level)"
        unexpected = _unexpected_keys(error.message)
        if type(error.kind).__name__ in ("AdditionalProperties", "UnevaluatedProperties") and unexpected:
            # point at each unknown key, once (both validators report the same key)
            for key in unexpected:
                findings.add(Finding.at(doc.location(*keys, key), RULE,
                                        f"not valid ODCS {version}: {where}: unknown key '{key}'"))
            continue
        findings.add(Finding.at(doc.location(*keys), RULE, f"not valid ODCS {version}: {where}: {error.message}"))
    return sorted(findings)
