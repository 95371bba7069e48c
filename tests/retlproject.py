"""The mini project (:mod:`miniproject`) with one reverse-ETL table synced to HubSpot.

raw.src__items -> stg.src__items -> core.items -> retl.hubspot__companies -> hubspot://kcrm-portal companies

The retl contract maps four columns to the property list ``catalog/destinations/hubspot/companies.yml``
written here (the repo's own lists are removed from the copy, so these tests depend on nothing the
retl tables of the real project ship).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import miniproject

RETL = Path("contracts/retl/hubspot__companies.odcs.yaml")
PROPERTIES = Path("catalog/destinations/hubspot/companies.yml")

PROPERTY_LIST = """system: hubspot
object: companies
description: Test properties of HubSpot companies.
properties:
  - {name: hs_object_id, type: number, readOnly: true, unique: true}
  - {name: name, type: string}
  - {name: kcrm_amount, type: number}
  - {name: kcrm_tier, type: enumeration, options: [A, B, C]}
  - {name: hs_lastmodifieddate, type: datetime, readOnly: true}
  - {name: kcrm_owner_email, type: string}
"""

# (name, BigQuery type, classification, extra YAML lines)
COLUMNS = [
    ("company_id", "INT64", "internal", ["required: true", "primaryKey: true", "primaryKeyPosition: 1"]),
    ("company_name", "STRING", "internal", []),
    ("amount_usd", "NUMERIC", "internal", []),
    ("size_tier", "STRING", "internal", ["quality:", "  - type: library", "    metric: invalidValues",
                                         "    arguments:", "      validValues: [A, B]", "    mustBe: 0"]),
    ("row_hash", "STRING", "internal", ["required: true"]),
]
LOGICAL = {"INT64": "integer", "STRING": "string", "NUMERIC": "number"}

DESTINATION = """  - property: destination
    value:
      system: hubspot
      instance: kcrm-portal
      object: companies
      matchKey: hs_object_id
      onDelete: clear
      allowedClassifications: [public, internal]
      approvedPii: []
      fields:
        - {column: company_id, field: hs_object_id, write: false}
        - {column: company_name, field: name}
        - {column: amount_usd, field: kcrm_amount}
        - {column: size_tier, field: kcrm_tier}
"""

MODEL = """SELECT
  item_id AS company_id,
  item_name AS company_name,
  amount_usd,
  CASE WHEN amount_usd >= 10 THEN 'A' ELSE 'B' END AS size_tier,
  TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    item_name AS company_name,
    amount_usd AS amount_usd,
    CASE WHEN amount_usd >= 10 THEN 'A' ELSE 'B' END AS size_tier
  )))) AS row_hash
FROM core.items
"""


def column_yaml(name: str, bq_type: str, classification: str, extra: list[str]) -> str:
    lines = [f"      - name: {name}", f"        logicalType: {LOGICAL[bq_type]}", f"        physicalType: {bq_type}",
             f"        description: The {name} column.", f"        classification: {classification}"]
    return "\n".join(lines + [f"        {e}" for e in extra])


def retl_contract(columns: list[tuple[str, str, str, list[str]]] = COLUMNS, destination: str = DESTINATION,
                  layer: str = "retl", table: str = "hubspot__companies") -> str:
    """The retl contract text (``destination``: the customProperties item, '' for none)."""
    props = "\n".join(column_yaml(*c) for c in columns) + "\n"
    custom = f"  - property: layer\n    value: {layer}\n  - property: materialization\n    value: table\n" + destination
    return miniproject.contract_text(layer, table, props, sla="", custom=custom,
                                     purpose="Company properties synced to HubSpot.",
                                     description="One row per HubSpot company.")


def make(root: Path) -> Path:
    """Write the mini project with its retl table into ``root``."""
    miniproject.make(root)
    shutil.rmtree(root / "catalog" / "destinations", ignore_errors=True)
    miniproject.write(root, PROPERTIES.as_posix(), PROPERTY_LIST)
    miniproject.write(root, RETL.as_posix(), retl_contract())
    miniproject.write(root, "models/retl/hubspot__companies.sql", MODEL)
    return root


def edit(root: Path, rel: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` once in a file; the 1-based line of the change."""
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line
