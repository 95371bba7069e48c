"""A mini project with a reverse-ETL layer, for the sync tests (and anyone testing retl machinery).

raw.src__items -> stg.src__items -> core.items -> retl.hubspot__companies (HubSpot, match key
``kcrm_item_id``) and retl.salesforce__accounts (Salesforce Account, external id ``Kcrm_Item_Id__c``).

Both retl tables carry the ``row_hash`` the issue prescribes, a ``destination`` block and a
destination property list under ``catalog/destinations/<system>/<object>.yml``. ``items(n)`` makes
``n`` raw rows with known values; :func:`build` seeds them and builds every table.
"""

from __future__ import annotations

from pathlib import Path

from miniproject import contract_text, load_raw, make, write

RETL_COLUMNS = [("kcrm_item_id", "STRING", "string"), ("item_name", "STRING", "string"),
                ("amount_usd", "NUMERIC", "number"), ("row_hash", "STRING", "string")]

DESTINATIONS = {
    "hubspot__companies": {
        "system": "hubspot", "instance": "kcrm-test", "object": "companies", "matchKey": "kcrm_item_id",
        "fields": [("kcrm_item_id", "kcrm_item_id", False), ("item_name", "name", True),
                   ("amount_usd", "kcrm_amount_usd", True)],
        "properties": "  - {name: hs_object_id, type: number, readOnly: true, unique: true}\n"
                      "  - {name: kcrm_item_id, type: string, unique: true}\n"
                      "  - {name: name, type: string}\n  - {name: kcrm_amount_usd, type: number}\n",
    },
    "salesforce__accounts": {
        "system": "salesforce", "instance": "kcrm-test", "object": "Account", "matchKey": "Kcrm_Item_Id__c",
        "fields": [("kcrm_item_id", "Kcrm_Item_Id__c", False), ("item_name", "Name", True),
                   ("amount_usd", "Amount_USD__c", True)],
        "properties": "  - {name: Id, type: id, readOnly: true, unique: true}\n"
                      "  - {name: Kcrm_Item_Id__c, type: string, unique: true}\n"
                      "  - {name: Name, type: string}\n  - {name: Amount_USD__c, type: double}\n",
    },
}

RETL_SQL = """SELECT
  CAST(item_id AS STRING) AS kcrm_item_id,
  item_name,
  amount_usd,
  TO_HEX(MD5(TO_JSON_STRING(STRUCT(item_name, amount_usd)))) AS row_hash
FROM core.items
"""


def retl_contract(table: str, on_delete: str = "clear") -> str:
    """The contract of a mini retl table, with its destination block."""
    spec = DESTINATIONS[table]
    props = []
    for name, bq_type, logical in RETL_COLUMNS:
        lines = [f"      - name: {name}", f"        logicalType: {logical}", f"        physicalType: {bq_type}",
                 f"        description: The {name} column.", "        classification: internal"]
        if name in ("kcrm_item_id", "row_hash"):
            lines.append("        required: true")
        if name == "kcrm_item_id":
            lines += ["        primaryKey: true", "        primaryKeyPosition: 1"]
        props.append("\n".join(lines))
    fields = "\n".join(f"          - {{column: {c}, field: {f}{'' if w else ', write: false'}}}"
                       for c, f, w in spec["fields"])
    custom = ("  - property: layer\n    value: retl\n  - property: materialization\n    value: table\n"
              "  - property: destination\n    value:\n"
              f"      system: {spec['system']}\n      instance: {spec['instance']}\n      object: {spec['object']}\n"
              f"      matchKey: {spec['matchKey']}\n      onDelete: {on_delete}\n      fields:\n{fields}\n")
    return contract_text("retl", table, "\n".join(props) + "\n", sla="", custom=custom,
                         purpose=f"Items synced to {spec['system']}.",
                         description=f"One row per {spec['object']} record.")


def make_retl(root: Path, on_delete: str = "clear") -> Path:
    """The mini project plus its two retl tables (contracts, models, destination property lists)."""
    make(root)
    for table, spec in DESTINATIONS.items():
        write(root, f"contracts/retl/{table}.odcs.yaml", retl_contract(table, on_delete))
        write(root, f"models/retl/{table}.sql", RETL_SQL)
        write(root, f"catalog/destinations/{spec['system']}/{spec['object']}.yml",
              f"system: {spec['system']}\nobject: {spec['object']}\ndescription: Test properties.\n"
              f"properties:\n{spec['properties']}")
    return root


def items(n: int, synced: str = "2023-01-01T00:00:00") -> list[tuple]:
    """``n`` raw rows with known values: id i, name ``Item i``, amount i * 1.5."""
    return [(i, f"Item {i}", i * 1.5, synced) for i in range(1, n + 1)]


def build(root: Path, rows: list[tuple]) -> None:
    """Load ``rows`` into raw.src__items and build every table of the mini project."""
    from conftest import run_cli

    load_raw(root, rows)
    run_cli(root, "build")
