"""The production engine: BigQuery, one dataset per layer (``target.dataset(layer)``).

Credentials come from Application Default Credentials. When the target names an
``api_endpoint`` (the bqemulator server the tests start) the client talks to it anonymously.

**Bounded time.** The client's defaults retry a failing call for up to 600 s. Here every API
call carries ``retry=DEFAULT_RETRY.with_deadline(api_deadline)`` and ``timeout=api_timeout``
(target settings in ``kcrm_gov.yml``, defaults 120 s and 60 s),
query jobs run with ``job_retry=None``, and waiting for a job is bounded by ``job_timeout``
(long: real models may run for minutes) while each poll keeps the short retry deadline. An
unreachable endpoint therefore fails within about ``api_deadline`` seconds with
``EngineError("cannot reach BigQuery at …")``.

**Atomicity.** BigQuery has no transactions across jobs, so :meth:`transaction` is a no-op
scope. What matters is atomic per table: :meth:`replace_table` builds the model into
``__kcrm_build__<table>`` and then swaps it in with one ``CREATE OR REPLACE TABLE … AS SELECT``,
which BigQuery commits atomically: readers see the old table or the new one, and a failing
model leaves the live table untouched.

**Policy tags.** DDL cannot attach them, so after creating or replacing a table the engine
updates its schema through the API with the policy tag of every classified leaf field
(``catalog/policy_tags.yml``; nested fields included). ``CREATE OR REPLACE`` makes a new table
without tags: until that one update lands (one API call, well under a second) classified columns
are protected only by dataset-level access. A build that cannot tag (no Data Catalog permission)
fails loudly after the swap rather than leaving it silent.

**Emulator compatibility** (``emulator_compat``, on when ``api_endpoint`` is set): the emulator
cannot parse ``PRIMARY KEY/FOREIGN KEY … NOT ENFORCED`` nor ``NOT NULL`` on nested fields, so
those are left out of the DDL it gets; it silently drops labels and column descriptions from DDL,
so they are set again through the API; its CTAS does not enforce ``NOT NULL``, so required
columns are checked with a query before the swap; its dry run (and a ``LIMIT 0`` query) runs a
SELECT in full, so a model is built into its build table first and its output schema read from that
table, before the contract check and the swap. Real BigQuery gets the full DDL, the
dry run and none of the extra calls. ``.ci/BQEMULATOR.md`` lists every gap.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .. import typemap
from ..ddl import bigquery as ddl
from ..policy_tags import Taxonomy, column_policy_tags, load_taxonomy
from ..sqlerrors import SQL_ERRORS
from .base import ActualColumn, BuildStats, Engine, EngineError, WarehouseUnavailable

if TYPE_CHECKING:
    import pyarrow as pa
    from google.cloud import bigquery

    from ..config import Target
    from ..contracts import Contract
    from ..project import Project

DEFAULT_ENDPOINT = "https://bigquery.googleapis.com"
BUILD_PREFIX = "__kcrm_build__"
TOOL_LABEL = {"kcrm_tool": "kcrm-gov"}
FINGERPRINT_LABEL = "kcrm_contract_fingerprint"
"""Label of an incremental table: the contract fingerprint it was built from (kcrm_gov.incremental)."""


class BigQueryEngine(Engine):
    kind = "bigquery"
    prices_queries = True

    def __init__(self, project: Project, target: Target, *, emulator_compat: bool | None = None,
                 api_deadline: float | None = None, api_timeout: float | None = None,
                 job_timeout: float | None = None, client: bigquery.Client | None = None) -> None:
        """The time bounds default to the target's ``api_deadline``, ``api_timeout`` and
        ``job_timeout`` (``kcrm_gov.yml``; see :mod:`kcrm_gov.config`)."""
        super().__init__(project, target)
        from google.cloud import bigquery

        if not target.project:
            raise WarehouseUnavailable(f"target '{target.name}' has no BigQuery project")
        self.bq = bigquery
        self.gcp_project: str = target.project
        self.endpoint = target.api_endpoint or DEFAULT_ENDPOINT
        self.emulator_compat = bool(target.api_endpoint) if emulator_compat is None else emulator_compat
        self.api_timeout = target.api_timeout if api_timeout is None else api_timeout
        self.job_timeout = target.job_timeout if job_timeout is None else job_timeout
        self.api_deadline = target.api_deadline if api_deadline is None else api_deadline
        self.retry = bigquery.DEFAULT_RETRY.with_deadline(self.api_deadline)
        self.client = client or self._make_client()
        self._datasets: set[str] = set()
        self._staged: dict[str, tuple[str, Any]] = {}  # emulator: table -> (sql, job) built by model_schema
        self._lock = threading.Lock()
        self._taxonomy: Taxonomy | bool | None = False  # False: not loaded yet

    def _make_client(self) -> bigquery.Client:
        from google.auth import exceptions as auth_exc

        options: dict[str, Any] = {"project": self.gcp_project, "location": self.target.location}
        if self.target.api_endpoint:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials

            options.update(credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=self.target.api_endpoint))
        try:
            return self.bq.Client(**options)
        except auth_exc.DefaultCredentialsError as exc:
            raise WarehouseUnavailable(
                f"no Google credentials for target '{self.target.name}' ({exc}). Run "
                "`gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS at a "
                "service-account key file") from None

    # --- error handling ------------------------------------------------------------------------
    def _error(self, exc: BaseException, what: str, sql: str | None = None) -> EngineError:
        """The clear message for anything the client raised while doing ``what`` (running ``sql``),
        with BigQuery's quotes of row values removed (``Bad int64 value: <the value>``)."""
        error = self._plain_error(exc, what)
        return type(error)(self.scrubbed(error.message, sql))

    def _plain_error(self, exc: BaseException, what: str) -> EngineError:
        import concurrent.futures

        import requests
        from google.api_core import exceptions as api_exc
        from google.auth import exceptions as auth_exc

        cause: BaseException | None = exc
        if isinstance(exc, api_exc.RetryError):
            cause = exc.cause
            if isinstance(cause, api_exc.GoogleAPICallError):
                return EngineError(f"{what}: BigQuery kept failing until the retry deadline: {cause.message}")
        if cause is None or isinstance(cause, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                                               auth_exc.TransportError, ConnectionError)):
            return WarehouseUnavailable(f"cannot reach BigQuery at {self.endpoint} ({what}): {cause or exc}")
        if isinstance(exc, (auth_exc.RefreshError, auth_exc.DefaultCredentialsError)):
            return WarehouseUnavailable(f"{what}: the Google credentials were refused ({exc}); "
                               "run `gcloud auth application-default login` again")
        if isinstance(exc, concurrent.futures.TimeoutError):
            return EngineError(f"{what}: the job did not finish within {self.job_timeout:.0f} s")
        if isinstance(exc, api_exc.GoogleAPICallError):
            return EngineError(f"{what}: {exc.message}")
        return EngineError(f"{what}: {exc}")

    @contextmanager
    def _calling(self, what: str, sql: str | None = None) -> Iterator[None]:
        from google.api_core import exceptions as api_exc
        from google.auth import exceptions as auth_exc

        try:
            yield
        except EngineError:
            raise
        except (api_exc.GoogleAPIError, auth_exc.GoogleAuthError, OSError) as exc:
            # OSError covers requests' connection errors and (3.11+) concurrent.futures.TimeoutError
            raise self._error(exc, what, sql) from None

    # --- names ---------------------------------------------------------------------------------
    def relation(self, layer: str, table: str) -> str:
        return ddl.qualified(self.gcp_project, self.schema(layer), table)

    def table_sql(self, layer: str, table: str) -> exp.Table:
        return exp.table_(table, db=self.schema(layer), catalog=self.gcp_project)

    def _ref(self, layer: str, table: str) -> str:
        return f"{self.gcp_project}.{self.schema(layer)}.{table}"

    def ensure_dataset(self, layer: str) -> None:
        """Create the layer's dataset (in the target's location) unless it exists."""
        name = self.schema(layer)
        if name in self._datasets:
            return
        from google.api_core import exceptions as api_exc

        ref = f"{self.gcp_project}.{name}"
        with self._calling(f"dataset {ref}"):
            try:
                self.client.get_dataset(ref, retry=self.retry, timeout=self.api_timeout)
            except api_exc.NotFound:
                dataset = self.bq.Dataset(ref)
                if self.target.location:  # unset: the client's default (an explicit null is a 500 on the emulator)
                    dataset.location = self.target.location
                dataset.description = f"kcrm-gov warehouse layer '{layer}'"
                dataset.labels = {**TOOL_LABEL, "kcrm_layer": ddl.label_value(layer)}
                self.client.create_dataset(dataset, exists_ok=True, retry=self.retry, timeout=self.api_timeout)
        self._datasets.add(name)

    # --- jobs ----------------------------------------------------------------------------------
    def _query(self, sql: str, what: str, *, labels: dict[str, str] | None = None, dry_run: bool = False,
               params: list[Any] | None = None) -> tuple[Any, Any]:
        """Run one query job to completion (or validate it, for a dry run): ``(job, rows)``, rows
        being the job's RowIterator (None for a dry run). Every job carries ``labels``."""
        config = self.bq.QueryJobConfig(labels={**TOOL_LABEL, **(labels or {})}, dry_run=dry_run,
                                        use_query_cache=not dry_run)
        if params:
            config.query_parameters = [_parameter(self.bq, value) for value in params]
        with self._calling(what, sql):
            job = self.client.query(sql, job_config=config, job_retry=None, retry=self.retry,
                                    timeout=self.api_timeout)
            rows = None if dry_run else job.result(timeout=self.job_timeout, retry=self.retry)
        return job, rows

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self._query(sql, "query", params=params)

    def query_arrow(self, sql: str) -> pa.Table:
        _, rows = self._query(sql, "query")
        with self._calling("query"):
            return rows.to_arrow(create_bqstorage_client=False)

    def dry_run(self, sql: str) -> int | None:
        """The bytes BigQuery says ``sql`` would process (the client's ``total_bytes_processed`` of
        a dry-run job: validated and priced, nothing run or billed). The emulator always says 0."""
        job, _ = self._query(sql, "dry run", dry_run=True)
        return int(job.total_bytes_processed or 0)

    def table_bytes(self, layer: str, table: str) -> int | None:
        from google.api_core import exceptions as api_exc

        with self._calling(f"table {self._ref(layer, table)}"):
            try:
                found = self.client.get_table(self._ref(layer, table), retry=self.retry, timeout=self.api_timeout)
            except api_exc.NotFound:
                return None
        return None if found.num_bytes is None else int(found.num_bytes)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A no-op scope: BigQuery has no transactions spanning jobs. Each table is still replaced
        atomically (one CREATE OR REPLACE TABLE statement, see :meth:`replace_table`)."""
        yield

    # --- tables --------------------------------------------------------------------------------
    def table_exists(self, layer: str, table: str) -> bool:
        from google.api_core import exceptions as api_exc

        with self._calling(f"table {self._ref(layer, table)}"):
            try:
                self.client.get_table(self._ref(layer, table), retry=self.retry, timeout=self.api_timeout)
            except api_exc.NotFound:
                return False
        return True

    def iter_tables(self, layer: str) -> Iterator[str]:
        from google.api_core import exceptions as api_exc

        with self._calling(f"dataset {self.schema(layer)}"):
            try:
                tables = list(self.client.list_tables(f"{self.gcp_project}.{self.schema(layer)}",
                                                      retry=self.retry, timeout=self.api_timeout))
            except api_exc.NotFound:
                return iter(())
        return iter(sorted(t.table_id for t in tables))

    def ddl(self, contract: Contract, *, replace: bool = False, table: str | None = None,
            as_select: str | None = None) -> str:
        """The contract's CREATE TABLE as this engine sends it (emulator: only what it parses)."""
        return ddl.create_table(contract, self.gcp_project, self.schema(contract.layer), replace=replace,
                                table=table, as_select=as_select, key_constraints=not self.emulator_compat,
                                nested_required=not self.emulator_compat)

    def create_table(self, contract: Contract, *, replace: bool = False) -> None:
        self.ensure_dataset(contract.layer)
        try:
            sql = self.ddl(contract, replace=replace)
        except ddl.DdlError as exc:
            raise EngineError(str(exc)) from None
        self._query(sql, f"create {contract.qualified_name}", labels=self._labels(contract))
        self._finish_table(contract)

    def write_arrow(self, contract: Contract, data: pa.Table, *, mode: str = "replace") -> int:
        """Load ``data`` as Parquet (nested STRUCT/ARRAY and NUMERIC survive; the emulator cannot
        take ``load_table_from_json``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if mode not in ("replace", "append"):
            raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
        if mode == "replace" or not self.table_exists(contract.layer, contract.table):
            self.create_table(contract, replace=True)
        schema = pa.schema([_arrow_field(c) for c in contract.columns])
        try:
            table = data.select([c.name for c in contract.columns]).cast(schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise EngineError(f"data for {contract.qualified_name} does not fit its contract: "
                              f"{self.scrubbed(str(exc))}") from None
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        buffer.seek(0)
        config = self.bq.LoadJobConfig(source_format=self.bq.SourceFormat.PARQUET,
                                       write_disposition=self.bq.WriteDisposition.WRITE_APPEND,
                                       labels={**TOOL_LABEL, **self._labels(contract)})
        options = self.bq.ParquetOptions()
        options.enable_list_inference = True  # list<struct> -> ARRAY<STRUCT>, not a wrapper record
        config.parquet_options = options
        with self._calling(f"load {contract.qualified_name}"):
            job = self.client.load_table_from_file(buffer, self._ref(contract.layer, contract.table),
                                                   job_config=config, num_retries=0, timeout=self.api_timeout)
            job.result(timeout=self.job_timeout, retry=self.retry)
        # a load either takes every row or fails (max_bad_records is 0); the emulator's output_rows
        # counts the whole table after an append, so the Arrow table is the reliable count
        return table.num_rows

    # --- building models -----------------------------------------------------------------------
    def prepare(self, bigquery_sql: str) -> str:
        return bigquery_sql

    def type_text(self, data_type: exp.DataType) -> str:
        return typemap.to_bigquery(data_type)

    def model_schema(self, sql: str, *, stage_for: Contract | None = None) -> list[ActualColumn]:
        """The output columns of ``sql`` from a dry run (no bytes scanned, nothing written). When
        the dry run carries no schema, a ``LIMIT 0`` query's result schema is used instead. The
        emulator runs a dry run's (and a ``LIMIT 0`` query's) SELECT in full, a second execution of
        every model: there, with ``stage_for``, the model is built into its build table at once and
        the schema read from that table; the replace or merge that follows uses those rows."""
        fields: list[Any] = []
        if self.emulator_compat and stage_for is not None:
            fields = self._stage(stage_for, sql)
        elif not self.emulator_compat:
            job, _ = self._query(sql, "dry run", dry_run=True)
            fields = list(job.schema or [])
        if not fields:
            _, rows = self._query(f"SELECT * FROM (\n{sql}\n) LIMIT 0", "query")
            fields = list(rows.schema)
        return [ActualColumn(f.name, typemap.parse_bigquery_type(schema_field_type(f)), f.mode != "REQUIRED")
                for f in fields]

    def _build_table(self, contract: Contract, sql: str) -> Any:
        """CTAS ``sql`` into the contract's ``__kcrm_build__`` table (expiring in a day); its job.
        Rows staged by :meth:`model_schema` for this very ``sql`` are used instead, once."""
        with self._lock:
            staged = self._staged.pop(contract.qualified_name, None)
        if staged is not None and staged[0] == sql:
            return staged[1]
        build_rel = self.relation(contract.layer, f"{BUILD_PREFIX}{contract.table}")
        first, _ = self._query(
            f"CREATE OR REPLACE TABLE {build_rel}\n"
            "OPTIONS(expiration_timestamp=TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))\n"
            f"AS\n{sql}", f"build {contract.qualified_name}", labels=self._labels(contract))
        return first

    def _stage(self, contract: Contract, sql: str) -> list[Any]:
        """Emulator only: build ``sql`` into the build table now and return that table's schema."""
        self.ensure_dataset(contract.layer)
        with self._lock:
            self._staged.pop(contract.qualified_name, None)
        job = self._build_table(contract, sql)
        ref = self._ref(contract.layer, f"{BUILD_PREFIX}{contract.table}")
        with self._calling(f"table {ref}"):
            table = self.client.get_table(ref, retry=self.retry, timeout=self.api_timeout)
        with self._lock:
            self._staged[contract.qualified_name] = (sql, job)
        return list(table.schema or [])

    def replace_table(self, contract: Contract, sql: str) -> BuildStats:
        """CTAS ``sql`` into ``__kcrm_build__<table>``, then ``CREATE OR REPLACE TABLE`` the live
        table from the contract's DDL ``AS SELECT`` the contract's columns from it: one atomic
        statement that also coerces to the contract's types and enforces its NOT NULLs. The build
        table is dropped either way (and expires after a day should the drop never happen)."""
        layer = contract.layer
        self.ensure_dataset(layer)
        build = f"{BUILD_PREFIX}{contract.table}"
        build_rel = self.relation(layer, build)
        labels = self._labels(contract)
        columns = ", ".join(ddl.ident(c.name) for c in contract.columns)
        try:
            swap = self.ddl(contract, replace=True, as_select=f"SELECT {columns} FROM {build_rel}")
        except ddl.DdlError as exc:
            raise EngineError(str(exc)) from None
        first = self._build_table(contract, sql)
        try:
            if self.emulator_compat:
                self._check_required(contract, build_rel, labels)
            second, _ = self._query(swap, f"replace {contract.qualified_name}", labels=labels)
        finally:
            # the build table expires on its own; the build's own error matters more than this one
            with suppress(EngineError):
                self._query(f"DROP TABLE IF EXISTS {build_rel}", f"drop {build}", labels=labels)
        table = self._finish_table(contract)
        processed = sum(int(j.total_bytes_processed or 0) for j in (first, second))
        return BuildStats(rows_written=table.num_rows if table is not None else None,
                          bytes_processed=processed)

    # --- incremental models (see kcrm_gov.incremental) ------------------------------------------
    def stored_fingerprint(self, contract: Contract) -> str | None:
        """The fingerprint label of the live table (set by :meth:`record_fingerprint`)."""
        from google.api_core import exceptions as api_exc

        ref = self._ref(contract.layer, contract.table)
        with self._calling(f"table {ref}"):
            try:
                table = self.client.get_table(ref, retry=self.retry, timeout=self.api_timeout)
            except api_exc.NotFound:
                return None
        value = (table.labels or {}).get(FINGERPRINT_LABEL)
        return str(value) if value else None

    def record_fingerprint(self, contract: Contract, fingerprint: str) -> None:
        """Keep the contract fingerprint as a table label: it travels with the table, outside the data."""
        ref = self._ref(contract.layer, contract.table)
        with self._calling(f"update {ref}"):
            table = self.client.get_table(ref, retry=self.retry, timeout=self.api_timeout)
            table.labels = {**(table.labels or {}), FINGERPRINT_LABEL: fingerprint}
            self.client.update_table(table, ["labels"], retry=self.retry, timeout=self.api_timeout)

    def merge_statement(self, contract: Contract, cutoff: Any) -> str:
        """The ``MERGE`` that folds ``__kcrm_build__<table>`` (the window, already built) into the live
        table (:func:`kcrm_gov.incremental.merge_statement`)."""
        from ..incremental import merge_statement

        spec = contract.incremental
        assert spec is not None
        sources = {s.table: self.table_sql(*s.table.split(".", 1)) for s in spec.sources}
        merge = merge_statement(contract, self.table_sql(contract.layer, contract.table),
                                self.table_sql(contract.layer, f"{BUILD_PREFIX}{contract.table}"), sources, cutoff)
        return merge.sql(dialect="bigquery")

    def merge_table(self, contract: Contract, sql: str, cutoff: Any, fingerprint: str) -> BuildStats:
        """CTAS the window into ``__kcrm_build__<table>``, then one ``MERGE`` (atomic in BigQuery: the
        live table is the old one until it commits), then the fingerprint label. The live table keeps
        its REQUIRED columns, so the merged result holds the contract's NOT NULLs."""
        layer = contract.layer
        self.ensure_dataset(layer)
        build = f"{BUILD_PREFIX}{contract.table}"
        build_rel = self.relation(layer, build)
        labels = self._labels(contract)
        first = self._build_table(contract, sql)
        try:
            if self.emulator_compat:
                self._check_required(contract, build_rel, labels)
            merge = self.merge_statement(contract, cutoff)
            second, _ = self._query(merge, f"merge {contract.qualified_name}", labels=labels)
        finally:
            with suppress(EngineError):
                self._query(f"DROP TABLE IF EXISTS {build_rel}", f"drop {build}", labels=labels)
        self.record_fingerprint(contract, fingerprint)
        processed = sum(int(j.total_bytes_processed or 0) for j in (first, second))
        written = getattr(second, "num_dml_affected_rows", None)
        return BuildStats(rows_written=int(written) if written is not None else None, bytes_processed=processed)

    def _check_required(self, contract: Contract, relation: str, labels: dict[str, str]) -> None:
        """Emulator only: real BigQuery refuses NULL in a NOT NULL column of a CTAS, the emulator
        does not, so count them (one query) and fail the same way."""
        required = [c.name for c in contract.columns if c.required and c.data_type.this != exp.DataType.Type.ARRAY]
        if not required:
            return
        counts = ", ".join(f"COUNTIF({ddl.ident(c)} IS NULL) AS {ddl.ident(c)}" for c in required)
        _, rows = self._query(f"SELECT {counts} FROM {relation}", f"check {contract.qualified_name}",
                              labels=labels)
        with self._calling("check"):
            row = next(iter(rows))
        nulls = [c for c in required if row[c]]
        if nulls:
            raise EngineError(f"replace {contract.qualified_name}: required column(s) "
                              f"{', '.join(nulls)} hold NULL (contract: required)")

    # --- metadata the DDL cannot carry ---------------------------------------------------------
    @property
    def taxonomy(self) -> Taxonomy | None:
        """The project's policy-tag taxonomy (``catalog/policy_tags.yml``), None without one."""
        if self._taxonomy is False:
            self._taxonomy = load_taxonomy(self.project.root)
        return self._taxonomy  # type: ignore[return-value]

    def apply_policy_tags(self, contract: Contract, taxonomy: Taxonomy | None = None) -> dict[str, str]:
        """Attach the policy tag of every classified leaf field (nested ones too) to the live
        table through the API; return ``{dotted.path: policy tag}`` of what was applied."""
        tags = column_policy_tags(contract, taxonomy if taxonomy is not None else self.taxonomy)
        self._update_metadata(contract, tags, restore=False)
        return tags

    def _finish_table(self, contract: Contract) -> Any:
        """After a CREATE: policy tags, and on the emulator what it dropped from the DDL."""
        tags = column_policy_tags(contract, self.taxonomy)
        return self._update_metadata(contract, tags, restore=self.emulator_compat)

    def _update_metadata(self, contract: Contract, tags: dict[str, str], *, restore: bool) -> Any:
        ref = self._ref(contract.layer, contract.table)
        with self._calling(f"table {ref}"):
            table = self.client.get_table(ref, retry=self.retry, timeout=self.api_timeout)
        if not tags and not restore:
            return table
        descriptions = {path: c.description.strip() for path, c in contract.all_columns()
                        if restore and c.description}
        fields = ["schema"]
        table.schema = [_with_metadata(self.bq, f, f.name, tags, descriptions) for f in table.schema]
        if restore:
            table.labels = {**(table.labels or {}), **ddl.table_labels(contract)}
            fields.append("labels")
            clusters = ddl.cluster_columns(contract)
            if clusters and not table.clustering_fields:
                table.clustering_fields = clusters
                fields.append("clustering_fields")
        with self._calling(f"update {ref}"):
            return self.client.update_table(table, fields, retry=self.retry, timeout=self.api_timeout)

    def _labels(self, contract: Contract) -> dict[str, str]:
        """Job labels: which model (``<layer>__<table>``) and layer the job belongs to."""
        return {"kcrm_model": ddl.label_value(f"{contract.layer}__{contract.table}"),
                "kcrm_layer": ddl.label_value(contract.layer)}

    def close(self) -> None:
        self.client.close()


# --- helpers ------------------------------------------------------------------------------------
def schema_field_type(field: Any) -> str:
    """A ``SchemaField`` (RECORD and REPEATED included) as the standard-SQL type text that
    :func:`typemap.parse_bigquery_type` reads (legacy INTEGER becomes INT64, and so on, so the
    parsed type is the very DataType a contract's INT64 parses to)."""
    kind = (field.field_type or "").upper()
    kind = ddl.STANDARD_TYPE_NAMES.get(kind, kind)
    if kind == "STRUCT":
        inner = ", ".join(f"{ddl.ident(f.name)} {schema_field_type(f)}" for f in field.fields)
        text = f"STRUCT<{inner}>"
    elif kind in ("NUMERIC", "BIGNUMERIC") and field.precision is not None:
        text = f"{kind}({field.precision}, {field.scale or 0})"
    else:
        text = kind
    return f"ARRAY<{text}>" if field.mode == "REPEATED" else text


def _with_metadata(bq: Any, field: Any, path: str, tags: dict[str, str], descriptions: dict[str, str]) -> Any:
    """``field`` with the policy tag of its path (leaves) and, where it has none, its description."""
    resource = field.to_api_repr()
    if path in descriptions and not resource.get("description"):
        resource["description"] = descriptions[path][: ddl.MAX_COLUMN_DESCRIPTION]
    if field.fields:
        resource["fields"] = [_with_metadata(bq, f, f"{path}.{f.name}", tags, descriptions).to_api_repr()
                              for f in field.fields]
    elif path in tags:
        resource["policyTags"] = {"names": [tags[path]]}
    return bq.SchemaField.from_api_repr(resource)


def _arrow_field(column: Any) -> Any:
    """The Arrow field of a contract column: required columns are non-nullable, so Parquet marks
    them REQUIRED and the load matches a REQUIRED BigQuery column."""
    import pyarrow as pa

    return pa.field(column.name, typemap.to_arrow(column.data_type), nullable=not column.required)


def _parameter(bq: Any, value: Any) -> Any:
    """A positional query parameter (``?``) for a Python value."""
    import datetime
    import decimal

    kinds = ((bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (decimal.Decimal, "NUMERIC"),
             (datetime.datetime, "TIMESTAMP"), (datetime.date, "DATE"), (bytes, "BYTES"), (str, "STRING"))
    kind = next((name for py, name in kinds if isinstance(value, py)), "STRING")
    return bq.ScalarQueryParameter(None, kind, value)


def qualify_tables(sql: str, project: str, dataset: str) -> str:
    """``sql`` with every unqualified table read from ``project.dataset``.

    Emulator only: it ignores a query job's default dataset and reads an unqualified table as
    empty, without an error, so SQL written for the default dataset (Soda's) is qualified first.
    SQL that sqlglot cannot parse is returned as it is.
    """
    import re

    import sqlglot

    # the dataset's own metadata views (Soda's schema check reads INFORMATION_SCHEMA.COLUMNS)
    metadata = re.compile(r"(?<![.`\w])INFORMATION_SCHEMA\.(\w+)", re.IGNORECASE)
    if metadata.search(sql):
        return metadata.sub(lambda m: f"`{project}.{dataset}.INFORMATION_SCHEMA.{m.group(1)}`", sql)
    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except SQL_ERRORS:
        return sql
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name and table.name not in ctes:
            table.set("db", exp.to_identifier(dataset, quoted=True))
            table.set("catalog", exp.to_identifier(project, quoted=True))
    return tree.sql(dialect="bigquery")


class QualifyingConnection:
    """A DB-API connection whose cursors send :func:`qualify_tables` SQL (the emulator's gap)."""

    def __init__(self, connection: Any, project: str, dataset: str) -> None:
        self._connection, self._project, self._dataset = connection, project, dataset

    def cursor(self) -> Any:
        return _QualifyingCursor(self._connection.cursor(), self._project, self._dataset)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class _QualifyingCursor:
    def __init__(self, cursor: Any, project: str, dataset: str) -> None:
        self._cursor, self._project, self._dataset = cursor, project, dataset

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._cursor.execute(qualify_tables(sql, self._project, self._dataset), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
