"""Dataset names, following the OpenLineage naming conventions.

* **BigQuery**: namespace ``bigquery``, name ``{project}.{dataset}.{table}`` (the spec's naming, as
  ``openlineage.client.naming.dataset.BigQuery`` implements it).
* **DuckDB** has no entry in the OpenLineage naming spec. kcrm-gov names a DuckDB table the way the
  spec names other embedded databases and local files: namespace ``duckdb://{host}{path}`` where
  ``host`` is this machine's host name (``localhost`` when it has none) and ``path`` the absolute
  path of the database file; name ``{schema}.{table}``. For example the default target of a checkout
  in ``/home/ana/kcrm`` on ``ana-laptop`` is namespace
  ``duckdb://ana-laptop/home/ana/kcrm/.kcrm/warehouse.duckdb``, and ``core.accounts`` is name
  ``core.accounts``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Target


@cache
def _host() -> str:
    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


@dataclass(frozen=True)
class DatasetNamer:
    """``(namespace, name)`` of a ``layer.table`` on one target."""

    target: Target

    @property
    def namespace(self) -> str:
        if self.target.type == "bigquery":
            return "bigquery"
        path = self.target.path.resolve() if self.target.path else None
        return f"duckdb://{_host()}{path.as_posix() if path else '/:memory:'}"

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
