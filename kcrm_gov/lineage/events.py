"""OpenLineage events for kcrm-gov, built with openlineage-python's event and facet classes.

**Runs.** A ``kcrm-gov build`` is a parent run of job ``kcrm-gov.build``; each model built is a child
run of job ``layer.table`` carrying the ``parent`` facet. Every run sends START, then exactly one
terminal event: COMPLETE, or FAIL with the ``errorMessage`` facet. A model the build skipped
(its upstream failed) ends with FAIL too, its ``errorMessage`` saying why it was skipped, so a
consumer sees exactly one of COMPLETE or FAIL for every run it saw start.
``kcrm-gov test`` is a parent run of ``kcrm-gov.test`` with one child run per
tested table (job ``layer.table.test``) whose input carries the Soda results
(:func:`emit_test_runs`). Jobs live in the configured namespace (``lineage.namespace`` in
kcrm_gov.yml, default ``kcrm-gov``); datasets are named as :mod:`.naming` says.

**Syncs.** A retl table with a destination is copied out by job ``sync.<layer.table>``: input the retl
table, output the destination object (namespace ``<system>://<instance>``, name the object) with a
``schema`` of the mapped fields in the destination's types and a ``columnLineage`` from the retl
columns (:meth:`EventFactory.destination_output`). ``lineage publish`` sends it as a JobEvent; a sync
reports its run with :func:`emit_sync_run`.

**Facets.** Output dataset: ``schema`` (nested fields from the contract), ``documentation``,
``ownership`` (owner team and data stewards), ``tags`` (layer, classification, PII), ``columnLineage``,
``lifecycleStateChange`` (CREATE or OVERWRITE), ``outputStatistics`` (rows written) and the custom
``kcrmGov_contract`` (contract id, version, status). Input datasets: ``schema``, ``kcrmGov_contract``,
and ``dataQualityAssertions`` / ``dataQualityMetrics`` when the table has test results. Job: ``sql``
(BigQuery SQL), ``jobType`` (BATCH, QUERY, integration KCRM_GOV), ``sourceCodeLocation`` (in a git
checkout), ``ownership``, ``documentation``. Run: ``processing_engine`` (kcrm-gov's version),
``parent``, ``nominalTime`` (``--nominal-time``), ``errorMessage``.

The custom facet follows the OpenLineage rules for custom facets: a prefixed key
(``kcrmGov_contract``), ``_producer`` and a ``_schemaURL`` pointing at the JSON schema shipped in
``kcrm_gov/resources/openlineage/KcrmGovContractDatasetFacet.json``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    DatasetFacet,
    column_lineage_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    set_producer,
    source_code_location_job,
    sql_job,
    tags_dataset,
)
from openlineage.client.uuid import generate_new_uuid

from .. import __version__
from .columns import LineageError, ModelLineage, model_lineage
from .naming import DatasetNamer
from .quality import TableQuality, load_results
from .transport import LineageSink

if TYPE_CHECKING:
    from ..build import ModelResult, RunResult
    from ..config import Target
    from ..contracts import Column, Contract
    from ..engines.base import Engine
    from ..project import Project
    from ..retl.destination import Destination

log = logging.getLogger(__name__)

PRODUCER = f"https://github.com/kcrm/kcrm-gov/tree/v{__version__}"
CONTRACT_FACET = "kcrmGov_contract"
CONTRACT_FACET_SCHEMA = ("https://github.com/kcrm/kcrm-gov/blob/main/kcrm_gov/resources/openlineage/"
                         "KcrmGovContractDatasetFacet.json")
INTEGRATION = "KCRM_GOV"
SCHEMA_RESOURCE = Path(__file__).resolve().parent.parent / "resources" / "openlineage" / \
    "KcrmGovContractDatasetFacet.json"

set_producer(PRODUCER)


@attr.define
class KcrmGovContractDatasetFacet(DatasetFacet):
    """The ODCS contract that defines a dataset: the custom facet ``kcrmGov_contract``."""

    id: str | None = attr.field(default=None)
    version: str | None = attr.field(default=None)
    status: str | None = attr.field(default=None)
    apiVersion: str | None = attr.field(default=None)
    table: str | None = attr.field(default=None)
    layer: str | None = attr.field(default=None)
    path: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{CONTRACT_FACET_SCHEMA}#/$defs/KcrmGovContractDatasetFacet"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_nominal_time(value: str) -> str:
    """An ISO 8601 date-time (``2024-05-01T03:00:00Z``; a bare date means midnight UTC) in UTC ``…Z`` form."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"--nominal-time must be an ISO 8601 date-time like 2024-05-01T03:00:00Z, "
                         f"not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- facets from contracts ---------------------------------------------------------------------------

def _schema_fields(columns: list[Column]) -> list[schema_dataset.SchemaDatasetFacetFields]:
    return [schema_dataset.SchemaDatasetFacetFields(
        name=c.name, type=c.bigquery_type, description=c.description, ordinal_position=i,
        fields=_schema_fields(c.fields)) for i, c in enumerate(columns, 1)]


def schema_facet(contract: Contract) -> schema_dataset.SchemaDatasetFacet:
    """The contract's columns, types, descriptions and nested fields."""
    return schema_dataset.SchemaDatasetFacet(fields=_schema_fields(contract.columns))


def documentation_facet(contract: Contract) -> documentation_dataset.DocumentationDatasetFacet | None:
    """The table's description, with the contract's purpose, usage and limitations (markdown)."""
    parts = [contract.description.strip()] if contract.description else []
    described = contract.model.description
    for label in ("purpose", "usage", "limitations"):
        text = getattr(described, label, None) if described is not None else None
        if text and str(text).strip():
            parts.append(f"**{label.capitalize()}:** {str(text).strip()}")
    if not parts:
        return None
    return documentation_dataset.DocumentationDatasetFacet(description="\n\n".join(parts),
                                                           contentType="text/markdown")


def _owners(contract: Contract) -> list[tuple[str, str]]:
    out = []
    if contract.owner_team:
        out.append((f"team:{contract.owner_team}", "OWNER"))
    out.extend((f"user:{s}", "DATA_STEWARD") for s in contract.stewards)
    return out


def ownership_facet(contract: Contract) -> ownership_dataset.OwnershipDatasetFacet | None:
    owners = [ownership_dataset.Owner(name=n, type=t) for n, t in _owners(contract)]
    return ownership_dataset.OwnershipDatasetFacet(owners=owners) if owners else None


def tags_facet(contract: Contract) -> tags_dataset.TagsDatasetFacet:
    """Layer, the table's highest classification, each column's classification and PII, contract tags."""
    tag = tags_dataset.TagsDatasetFacetFields
    tags = [tag(key="layer", value=contract.layer, source="KCRM_GOV")]
    if contract.highest_classification:
        tags.append(tag(key="classification", value=contract.highest_classification, source="KCRM_GOV"))
    for path, column in contract.all_columns():
        if column.classification:
            tags.append(tag(key="classification", value=column.classification, source="CONTRACT", field=path))
        if column.is_pii:
            tags.append(tag(key="pii", value="true", source="CONTRACT", field=path))
    tags.extend(tag(key=str(t), value="true", source="CONTRACT") for t in contract.tags)
    return tags_dataset.TagsDatasetFacet(tags=tags)


def contract_facet(contract: Contract) -> KcrmGovContractDatasetFacet:
    return KcrmGovContractDatasetFacet(
        id=contract.id, version=contract.version, status=contract.status,
        apiVersion=getattr(contract.model, "apiVersion", None), table=contract.qualified_name,
        layer=contract.layer, path=str(contract.path))


def column_lineage_facet(lineage: ModelLineage,
                         namer: DatasetNamer) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """The facet's ``fields`` (per output column) and ``dataset`` (whole-table, INDIRECT) lineage."""
    cl = column_lineage_dataset

    def input_fields(sources: list[Any]) -> list[cl.InputField]:
        grouped: dict[tuple[str, str], list[cl.Transformation]] = {}
        for s in sources:
            grouped.setdefault((s.table, s.column), []).append(
                cl.Transformation(type=s.type, subtype=s.subtype, masking=s.masking))
        out = []
        for (table, column), transformations in grouped.items():
            namespace, name = namer(table)
            out.append(cl.InputField(namespace=namespace, name=name, field=column, transformations=transformations))
        return out

    fields = {column: cl.Fields(inputFields=input_fields(sources))
              for column, sources in lineage.columns.items() if sources}
    return cl.ColumnLineageDatasetFacet(fields=fields, dataset=input_fields(lineage.dataset))


# --- the git checkout ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GitInfo:
    toplevel: Path
    version: str
    branch: str | None
    remote: str | None

    def facet(self, file: Path) -> source_code_location_job.SourceCodeLocationJobFacet:
        path = file.resolve().relative_to(self.toplevel).as_posix() if file.resolve().is_relative_to(
            self.toplevel) else file.as_posix()
        url = self.remote or self.toplevel.as_uri()
        if self.remote and self.remote.startswith("https://") and "github.com" in self.remote:
            url = f"{self.remote.removesuffix('.git')}/blob/{self.version}/{path}"
        return source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url=url, repoUrl=self.remote or self.toplevel.as_uri(), path=path, version=self.version,
            branch=self.branch)


def git_info(root: Path) -> GitInfo | None:
    """The checkout ``root`` is in (None outside git, or before the first commit)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    out = git("rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD")
    if not out or len(out.splitlines()) != 3:
        return None
    top, sha, branch = out.splitlines()
    return GitInfo(toplevel=Path(top).resolve(), version=sha, branch=None if branch == "HEAD" else branch,
                   remote=git("config", "--get", "remote.origin.url") or None)


# --- building events ----------------------------------------------------------------------------------

@functools.cache
def _adapter_version() -> str | None:
    """openlineage-python's version, looked up once: the package metadata search took ~4 ms an event."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openlineage-python")
    except PackageNotFoundError:  # pragma: no cover - the dependency is pinned
        return None


class EventFactory:
    """Datasets, jobs and facets for one project on one target (static facets built once per table)."""

    def __init__(self, project: Project, target: Target) -> None:
        self.project = project
        self.target = target
        self.namer = DatasetNamer(target, project.config.name)
        self.namespace = project.config.lineage_namespace
        self._static: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @cached_property
    def git(self) -> GitInfo | None:
        return git_info(self.project.root)

    @cached_property
    def quality(self) -> dict[str, TableQuality]:
        return load_results(self.project)

    def static_facets(self, table: str) -> dict[str, Any]:
        """The dataset facets that come from the contract alone."""
        with self._lock:
            facets = self._static.get(table)
            if facets is None:
                contract = self.project.contracts[table]
                facets = {"schema": schema_facet(contract), "documentation": documentation_facet(contract),
                          "ownership": ownership_facet(contract), "tags": tags_facet(contract),
                          CONTRACT_FACET: contract_facet(contract)}
                facets = self._static[table] = {k: v for k, v in facets.items() if v is not None}
            return facets

    def lineage_facet(self, table: str) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
        try:
            lineage = model_lineage(self.project, table)
        except LineageError as exc:
            log.warning("no column lineage for %s: %s", table, exc)
            return None
        return column_lineage_facet(lineage, self.namer) if lineage else None

    def input(self, table: str, *, quality: bool = False) -> InputDataset:
        namespace, name = self.namer(table)
        static = self.static_facets(table)
        facets = {k: static[k] for k in ("schema", CONTRACT_FACET) if k in static}
        tested = self.quality.get(table) if quality else None
        return InputDataset(namespace=namespace, name=name, facets=facets,
                            inputFacets=tested.input_facets() if tested else {})

    def output(self, table: str, *, lineage: bool = False, rows: int | None = None,
               lifecycle: str | None = None) -> OutputDataset:
        namespace, name = self.namer(table)
        facets = dict(self.static_facets(table))
        if lineage:
            facet = self.lineage_facet(table)
            if facet is not None:
                facets["columnLineage"] = facet
        if lifecycle:
            facets["lifecycleStateChange"] = lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange(lifecycle))
        output_facets: dict[str, Any] = {}
        if rows is not None:
            output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows)
        return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)

    def sql(self, table: str) -> str:
        """The model's BigQuery SQL; on a BigQuery target with its references as the real tables."""
        from sqlglot import exp

        model = self.project.models[table]
        if self.target.type != "bigquery":
            return model.sql.strip()
        target = self.target
        return model.render(lambda layer, name: exp.table_(name, db=target.dataset(layer), catalog=target.project)
                            ).sql(dialect="bigquery", pretty=True)

    def model_job(self, table: str) -> Job:
        """The job that builds ``table``: SQL, job type, source location, ownership, documentation."""
        contract = self.project.contracts[table]
        model = self.project.models[table]
        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration=INTEGRATION, jobType="QUERY"),
            "sql": sql_job.SQLJobFacet(query=self.sql(table), dialect="bigquery"),
            "documentation": documentation_job.DocumentationJobFacet(
                description=f"Builds {table} from {model.path} ({', '.join(model.refs) or 'no inputs'}).",
                contentType="text/plain"),
        }
        owners = [ownership_job.Owner(name=n, type=t) for n, t in _owners(contract)]
        if owners:
            facets["ownership"] = ownership_job.OwnershipJobFacet(owners=owners)
        if self.git is not None:
            facets["sourceCodeLocation"] = self.git.facet(model.file)
        return Job(namespace=self.namespace, name=table, facets=facets)

    def command_job(self, name: str, description: str) -> Job:
        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration=INTEGRATION, jobType="JOB"),
            "documentation": documentation_job.DocumentationJobFacet(description=description,
                                                                     contentType="text/plain")}
        return Job(namespace=self.namespace, name=name, facets=facets)

    def run_facets(self, *, nominal_time: str | None = None, parent: tuple[str, str] | None = None,
                   error: str | None = None) -> dict[str, Any]:
        facets: dict[str, Any] = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="kcrm-gov", openlineageAdapterVersion=_adapter_version())}
        if nominal_time:
            facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(nominalStartTime=nominal_time)
        if parent:
            run_id, job_name = parent
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=run_id), job=parent_run.Job(namespace=self.namespace, name=job_name),
                root=parent_run.Root(run=parent_run.RootRun(runId=run_id),
                                     job=parent_run.RootJob(namespace=self.namespace, name=job_name)))
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="SQL")
        return facets

    # -- reverse-ETL syncs --------------------------------------------------------------------------
    def destination(self, table: str) -> Destination | None:
        """The destination of a retl table (None: it has none, or it does not parse; lint says why)."""
        from .reach import destination_of

        return destination_of(self.project, table)

    def destination_output(self, table: str) -> OutputDataset | None:
        """The destination object ``table`` is synced to, as an output dataset: namespace
        ``<system>://<instance>``, name the object, a ``schema`` of the mapped fields (the destination's
        own types from its property list) and a ``columnLineage`` from the retl columns that fill them."""
        destination = self.destination(table)
        if destination is None:
            return None
        obj = self.project.destination_object(destination)
        contract = self.project.contracts[table]
        namespace, name = self.namer(table)
        cl = column_lineage_dataset
        schema_fields, lineage_fields = [], {}
        for i, mapping in enumerate(destination.fields, 1):
            prop = obj.properties.get(mapping.field) if obj is not None else None
            column = contract.column(mapping.column)
            written = mapping.write and mapping.field != destination.match_key
            role = "written" if written else ("match key" if mapping.field == destination.match_key
                                              else "sent, not written")
            schema_fields.append(schema_dataset.SchemaDatasetFacetFields(
                name=mapping.field, type=prop.type if prop is not None else (column.bigquery_type if column else None),
                description=f"From {table}.{mapping.column} ({role}).", ordinal_position=i))
            lineage_fields[mapping.field] = cl.Fields(inputFields=[cl.InputField(
                namespace=namespace, name=name, field=mapping.column,
                transformations=[cl.Transformation(type="DIRECT", subtype="IDENTITY", masking=False)])])
        facets: dict[str, Any] = {
            "schema": schema_dataset.SchemaDatasetFacet(fields=schema_fields),
            "columnLineage": cl.ColumnLineageDatasetFacet(fields=lineage_fields),
            "documentation": documentation_dataset.DocumentationDatasetFacet(
                description=(obj.description if obj is not None and obj.description else
                             f"{destination.system} object {destination.object}")
                + f" ({destination.namespace}), upserted by match key {destination.match_key} from {table}.",
                contentType="text/plain"),
        }
        return OutputDataset(namespace=destination.namespace, name=destination.object, facets=facets)

    def sync_job(self, table: str) -> Job:
        """The job ``sync.<layer.table>`` that copies a retl table into its destination."""
        destination = self.destination(table)
        where = f"{destination.namespace} {destination.object}" if destination else "its destination"
        job = self.command_job(f"sync.{table}", f"kcrm-gov sync of {table} to {where}: only the rows whose "
                                                "row hash changed since the last successful sync.")
        owners = [ownership_job.Owner(name=n, type=t) for n, t in _owners(self.project.contracts[table])]
        facets = dict(job.facets or {})
        if owners:
            facets["ownership"] = ownership_job.OwnershipJobFacet(owners=owners)
        return Job(namespace=job.namespace, name=job.name, facets=facets)

    def sync_tables(self) -> list[str]:
        """The retl tables that declare a (well-formed) destination, in order."""
        return [c.qualified_name for c in self.project.layer("retl") if self.destination(c.qualified_name)]

    # -- static lineage (lineage publish) -------------------------------------------------------------
    def static_events(self) -> list[DatasetEvent | JobEvent]:
        """A DatasetEvent per contract and a JobEvent per model: the design, before any run."""
        events: list[DatasetEvent | JobEvent] = []
        when = now_iso()
        for contract in self.project.ordered():
            table = contract.qualified_name
            namespace, name = self.namer(table)
            facets = dict(self.static_facets(table))
            if table in self.project.models:
                lineage = self.lineage_facet(table)
                if lineage is not None:
                    facets["columnLineage"] = lineage
            events.append(DatasetEvent(eventTime=when, producer=PRODUCER,
                                       dataset=StaticDataset(namespace=namespace, name=name, facets=facets)))
        for table in sorted(self.project.models):
            if table not in self.project.contracts:
                continue
            model = self.project.models[table]
            inputs = [self.input(ref) for ref in model.refs if ref in self.project.contracts]
            events.append(JobEvent(eventTime=when, producer=PRODUCER, job=self.model_job(table), inputs=inputs,
                                   outputs=[self.output(table, lineage=True)]))
        for table in self.sync_tables():  # each retl table reaches its external system through its sync job
            output = self.destination_output(table)
            assert output is not None  # sync_tables holds only tables with a destination
            events.append(DatasetEvent(eventTime=when, producer=PRODUCER, dataset=StaticDataset(
                namespace=output.namespace, name=output.name, facets=output.facets)))
            events.append(JobEvent(eventTime=when, producer=PRODUCER, job=self.sync_job(table),
                                   inputs=[self.input(table)], outputs=[output]))
        return events


# --- the build / test emitter ----------------------------------------------------------------------------

Listener = Callable[[str, Any], None]


class LineageEmitter:
    """Emits a command's parent run and one child run per table; fed by build()'s listener.

    Never raises from its hooks: a lineage problem is logged and the job goes on.
    """

    def __init__(self, project: Project, target: Target, *, command: str = "build", nominal_time: str | None = None,
                 sink: LineageSink | None = None, engine: Engine | None = None) -> None:
        self.project = project
        self.sink = sink if sink is not None else LineageSink(project)
        self.factory = EventFactory(project, target)
        self.command = command
        self.job_name = f"kcrm-gov.{command}"
        self.nominal_time = nominal_time
        self.engine = engine
        self.run_id = str(generate_new_uuid())
        self.children: dict[str, str] = {}
        self.existed: dict[str, bool | None] = {}
        self.lock = threading.Lock()
        self.started = self.finished = False

    @property
    def enabled(self) -> bool:
        return self.sink.enabled

    def _emit(self, event: Any) -> None:
        self.sink.emit(event)

    def _run_event(self, state: RunState, run_id: str, job: Job, *, parent: bool = False, error: str | None = None,
                   inputs: list[InputDataset] | None = None, outputs: list[OutputDataset] | None = None) -> RunEvent:
        facets = self.factory.run_facets(nominal_time=self.nominal_time, error=error,
                                         parent=None if parent else (self.run_id, self.job_name))
        return RunEvent(eventType=state, eventTime=now_iso(), producer=PRODUCER, run=Run(runId=run_id, facets=facets),
                        job=job, inputs=inputs or [], outputs=outputs or [])

    def _parent_job(self) -> Job:
        return self.factory.command_job(self.job_name, f"kcrm-gov {self.command} of project "
                                                       f"{self.project.config.name}")

    # -- parent run ----------------------------------------------------------------------------------
    def start(self) -> None:
        """The parent run's START."""
        if not self.enabled or self.started:
            return
        self.started = True
        self._guard(lambda: self._emit(self._run_event(RunState.START, self.run_id, self._parent_job(), parent=True)))

    def finish(self, run: RunResult | None = None, *, error: str | None = None) -> None:
        """The parent run's COMPLETE (every model built) or FAIL (with what failed)."""
        if not self.enabled or self.finished:
            return
        self.finished = True
        if error is None and run is not None and not run.ok:
            failed = [m.table for m in run.models if m.status == "error"]
            skipped = [m.table for m in run.models if m.status == "skipped"]
            parts = [f"{len(failed)} failed: {', '.join(failed)}"] if failed else []
            parts += [f"{len(skipped)} skipped: {', '.join(skipped)}"] if skipped else []
            error = f"{self.command}: " + "; ".join(parts)
        state = RunState.FAIL if error else RunState.COMPLETE
        self._guard(lambda: self._emit(self._run_event(state, self.run_id, self._parent_job(), parent=True,
                                                       error=error)))
        from .columns import _cache_for

        self._guard(lambda: _cache_for(self.project).save())
        self.sink.close()

    def __enter__(self) -> LineageEmitter:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.finish(error=f"{self.command} stopped: {type(exc).__name__}: {exc}")
        else:
            self.finish()

    # -- child runs ----------------------------------------------------------------------------------
    def listener(self, other: Listener | None = None) -> Listener:
        """A build listener that feeds :meth:`on_model` and then ``other`` (the progress display)."""
        def listen(table: str, result: Any) -> None:
            self.on_model(table, result)
            if other is not None:
                other(table, result)

        return listen

    def on_model(self, table: str, result: ModelResult | None) -> None:
        """``(table, None)`` when a model starts: START; ``(table, result)`` when it ends: COMPLETE/FAIL."""
        if not self.enabled:
            return
        self._guard(lambda: self._on_model(table, result))

    def _inputs(self, table: str) -> list[InputDataset]:
        model = self.project.models.get(table)
        refs = model.refs if model is not None else []
        return [self.factory.input(ref, quality=True) for ref in refs if ref in self.project.contracts]

    def _on_model(self, table: str, result: ModelResult | None) -> None:
        job = self.factory.model_job(table)
        if result is None or table not in self.children:
            with self.lock:
                run_id = self.children.setdefault(table, str(generate_new_uuid()))
            self.existed[table] = self._exists(table)
            self._emit(self._run_event(RunState.START, run_id, job, inputs=self._inputs(table),
                                       outputs=[self.factory.output(table)]))
            if result is None:
                self._prepare_lineage(table)
                return
        run_id = self.children[table]
        if result.status == "success":
            lifecycle = {True: "OVERWRITE", False: "CREATE"}.get(self.existed.get(table))  # type: ignore[arg-type]
            output = self.factory.output(table, lineage=True, rows=result.rows_written, lifecycle=lifecycle)
            self._emit(self._run_event(RunState.COMPLETE, run_id, job, inputs=self._inputs(table), outputs=[output]))
        else:
            self._emit(self._run_event(RunState.FAIL, run_id, job, error=result.error or result.status,
                                       inputs=self._inputs(table), outputs=[self.factory.output(table)]))

    def _prepare_lineage(self, table: str) -> None:
        """Work out the model's column lineage now, for its COMPLETE event.

        A build announces a model's START from the worker thread that builds it and its COMPLETE
        from the thread that schedules the others; analysing the SQL there (a few hundredths of
        a second a model on a fresh clone) held back every model waiting to be scheduled. Here it
        runs beside the other models' engine work, and COMPLETE finds it cached. The cache file is
        written once, when the run finishes. A model whose lineage cannot be worked out is left to
        COMPLETE, which logs why."""
        if table not in self.project.models:
            return
        from .columns import _cache_for

        with contextlib.suppress(Exception):
            _cache_for(self.project).get(self.project, table, save=False)

    def _exists(self, table: str) -> bool | None:
        if self.engine is None:
            return None
        layer, name = table.split(".", 1)
        try:
            return bool(self.engine.table_exists(layer, name))
        except Exception:  # lineage never breaks the build; the lifecycle facet is just left out
            return None

    # -- test runs -----------------------------------------------------------------------------------
    def on_test(self, table: str, quality: TableQuality | None, *, error: str | None = None) -> None:
        """One tested table: a child run (job ``layer.table.test``) whose input holds the results."""
        if not self.enabled:
            return
        self._guard(lambda: self._on_test(table, quality, error))

    def _on_test(self, table: str, quality: TableQuality | None, error: str | None) -> None:
        run_id = str(generate_new_uuid())
        job = self.factory.command_job(f"{table}.test", f"Soda checks of {table} (checks/{table.replace('.', '/')}"
                                                        ".yml)")
        namespace, name = self.factory.namer(table)
        static = self.factory.static_facets(table)
        facets = {k: static[k] for k in ("schema", CONTRACT_FACET) if k in static}
        self._emit(self._run_event(RunState.START, run_id, job,
                                   inputs=[InputDataset(namespace=namespace, name=name, facets=facets)]))
        if error is None and quality is not None and quality.errored:
            error = f"checks that could not be evaluated: {'; '.join(quality.errors())}"
        inputs = [InputDataset(namespace=namespace, name=name, facets=facets,
                               inputFacets=quality.input_facets() if quality else {})]
        self._emit(self._run_event(RunState.FAIL if error else RunState.COMPLETE, run_id, job, error=error,
                                   inputs=inputs))

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # the observer never breaks the job
            log.warning("OpenLineage: %s: %s", type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))


def open_emitter(project: Project, target: Target, *, command: str = "build", nominal_time: str | None = None,
                 engine: Engine | None = None) -> LineageEmitter:
    """The emitter for one command, with the project's transport (a disabled one when lineage is off)."""
    return LineageEmitter(project, target, command=command, nominal_time=nominal_time, engine=engine)


@contextlib.contextmanager
def build_lineage(project: Project, engine: Engine, *, nominal_time: str | None = None,
                  command: str = "build") -> Iterator[LineageEmitter]:
    """The lineage of one build, around it::

        with build_lineage(project, engine) as lineage:
            run = build(..., listener=lineage.listener(progress))
            lineage.finish(run)

    START of the parent run on entry; its COMPLETE/FAIL from :meth:`LineageEmitter.finish`, or a
    FAIL when the block raises.
    """
    emitter = open_emitter(project, engine.target, command=command, nominal_time=nominal_time, engine=engine)
    with emitter:
        yield emitter


def emit_test_runs(project: Project, target: Target, results: dict[str, TableQuality] | Any | None = None, *,
                   nominal_time: str | None = None, errors: dict[str, str] | None = None) -> LineageEmitter:
    """Emit ``kcrm-gov test``'s lineage: a parent run and one child run per tested table.

    ``results``: ``{layer.table: TableQuality}``, a parsed results document (see :mod:`.quality`),
    or None to read ``.kcrm/test_results.json``. ``errors``: tables whose scan could not run, with why.
    """
    from .quality import parse_results

    if results is None:
        tables = load_results(project)
    elif isinstance(results, dict) and all(isinstance(v, TableQuality) for v in results.values()):
        tables = results
    else:
        tables = parse_results(project, results)
    emitter = open_emitter(project, target, command="test", nominal_time=nominal_time)
    with emitter:
        for table in sorted(set(tables) | set(errors or {})):
            emitter.on_test(table, tables.get(table), error=(errors or {}).get(table))
        failed = sorted({t for t, q in tables.items() if q.errored} | set(errors or {}))
        emitter.finish(error=f"test: {len(failed)} tables could not be tested: {', '.join(failed)}"
                       if failed else None)
    return emitter


def emit_sync_run(project: Project, target: Target, table: str, *, records: int | None = None,
                  error: str | None = None, nominal_time: str | None = None,
                  emitter: LineageEmitter | None = None) -> LineageEmitter | None:
    """Emit one sync of a retl table (for ``kcrm-gov sync push``): a run of job ``sync.<layer.table>``, START
    then COMPLETE (with ``outputStatistics.rowCount`` = ``records`` sent) or FAIL (``error``), its input the retl
    table and its output the destination object. None when ``table`` declares no (well-formed) destination.

    ``emitter``: the push's one emitter (opened with ``command="sync"``), shared by all its tables and closed
    by the caller; without it one is opened and closed for this run alone."""
    own = emitter is None
    if emitter is None:
        emitter = open_emitter(project, target, command="sync", nominal_time=nominal_time)
    factory = emitter.factory
    output = factory.destination_output(table)
    if output is None or not emitter.enabled:
        return None
    job, run_id = factory.sync_job(table), str(generate_new_uuid())

    def event(state: RunState, out: OutputDataset, failure: str | None = None) -> RunEvent:
        return RunEvent(eventType=state, eventTime=now_iso(), producer=PRODUCER,
                        run=Run(runId=run_id, facets=factory.run_facets(nominal_time=nominal_time, error=failure)),
                        job=job, inputs=[factory.input(table)], outputs=[out])

    emitter._guard(lambda: emitter._emit(event(RunState.START, output)))
    done = output
    if error is None and records is not None:
        done = OutputDataset(namespace=output.namespace, name=output.name, facets=output.facets, outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=records)})
    emitter._guard(lambda: emitter._emit(event(RunState.FAIL if error else RunState.COMPLETE, done, error)))
    if own:
        emitter.sink.close()
    return emitter
