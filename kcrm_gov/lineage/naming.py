"""Dataset names, following the OpenLineage naming conventions.

* **BigQuery**: namespace ``bigquery``, name ``{project}.{dataset}.{table}`` (the spec's naming, as
  ``openlineage.client.naming.dataset.BigQuery`` implements it).
* **DuckDB** has no entry in the OpenLineage naming spec, and a DuckDB file has no server whose host
  and port could name it (the spec's rule for databases): the same warehouse is a different file on
  every machine and in every clone. kcrm-gov therefore names it after what it is, the warehouse of one
  target of one project: namespace ``duckdb://kcrm-gov/{project}/{target}``, where ``project`` is
  ``name:`` in ``kcrm_gov.yml`` and ``target`` the target's name (each percent-encoded), and name
  ``{schema}.{table}``. The default target of this project is namespace
  ``duckdb://kcrm-gov/kcrm/local``, and ``core.accounts`` is name ``core.accounts``, on every machine
  and in whatever folder the project is cloned to. Neither the host name nor the database file's path
  is part of it: pointing the target at another file (``KCRM_GOV_LOCAL__PATH``) keeps the names, and a
  warehouse that must be told apart gets a target of its own. (A ``kcrm_gov.yml`` without ``name:``
  names the project after its folder: give it a name to keep its datasets' identity stable.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from ..config import Target

DUCKDB_AUTHORITY = "kcrm-gov"  # DuckDB namespaces are duckdb://kcrm-gov/{project}/{target}


def duckdb_namespace(project: str, target: str) -> str:
    """The namespace of the DuckDB warehouse of ``target`` in the project called ``project``."""
    return f"duckdb://{DUCKDB_AUTHORITY}/{quote(project, safe='')}/{quote(target, safe='')}"


@dataclass(frozen=True)
class DatasetNamer:
    """``(namespace, name)`` of a ``layer.table`` on one target of the project called ``project``."""

    target: Target
    project: str

    @property
    def namespace(self) -> str:
        if self.target.type == "bigquery":
            return "bigquery"
        return duckdb_namespace(self.project, self.target.name)

    def name(self, table: str) -> str:
        layer, name = table.split(".", 1)
        dataset = self.target.dataset(layer)
        if self.target.type == "bigquery":
            from openlineage.client.naming.dataset import BigQuery

            return BigQuery(project_id=str(self.target.project), dataset_name=dataset,
                            table_name=name).get_name()
        return f"{dataset}.{name}"

    def __call__(self, table: str) -> tuple[str, str]:
        return self.namespace, self.name(table)
