"""``kcrm-gov diff``: classify every contract and model change, enforce the version rule, list the impact.

Each change between the project at a base ref and the working tree is one of three kinds:

=================  ==========================================================================
kind               changes
=================  ==========================================================================
``breaking``       table removed or renamed; column removed or renamed; type narrowed or changed
                   (anything but a widening, see :mod:`.types`); column made required, or made
                   optional (the non-null guarantee readers rely on is gone); unique added or
                   removed; primary key changed; allowed values narrowed; classification lowered;
                   PII mark removed; SLA loosened (or removed, or its element changed) on a table
                   others depend on; quality rule removed or changed
``additive``       table or column added; type widened; allowed values widened; classification
                   raised; PII mark added; SLA tightened (or loosened on a table nothing reads);
                   quality rule added; other metadata (tags, owner team, stewards, partitioning,
                   clustering, custom properties)
``documentation``  descriptions, business names, the contract's purpose / usage / limitations
=================  ==========================================================================

A retl table's destination (:mod:`.destinations`) is compared field by field: each change is a
change to an external system (``destination_*``), breaking when records stop being written or go
elsewhere (mapping removed or re-pointed, match key, target, ``onDelete``), additive otherwise, and
always shown with its impact: the destination fields it names and the stewards who must approve.

A model whose SQL changed while its contract did not is reported as ``implementation``: its
output is still enforced against the unchanged contract (``check`` compiles it), so it asks for
no version bump.

**Version rule** (:mod:`.versions`): a breaking change needs a major bump, an additive one at
least a minor bump, a documentation-only one at least a patch; a version never goes down; a
removed table must have been deprecated at the base.

**Impact** of each breaking change (:mod:`.impact`): the tables downstream of the changed table
in the DAG (at the base and in the working tree), the downstream columns fed by a changed column
(through the models' column lineage, transitively; table level when lineage is not available),
the reverse-ETL (``retl``) tables and marts reached, the destination fields those retl columns fill
(``hubspot://kcrm-portal/companies.kcrm_icp_tier``), and the stewards who must approve: those of
the changed table and of every downstream table, with their GitHub handles from
``catalog/teams.yml``.

One module per job:

* :mod:`.model`: the kinds, :class:`Change`, :class:`TableDiff`, :class:`DiffReport`...
* :mod:`.types`: type spelling and the widening lattice;
* :mod:`.columns`: the column rules (one aspect of a column each), registered in report order;
* :mod:`.sla`: the SLA comparison;
* :mod:`.destinations`: a retl table's destination (a change to an external system);
* :mod:`.tables`: tables removed, added and renamed, contract-level changes, models;
* :mod:`.versions`: the version rule;
* :mod:`.impact`: downstream tables, columns and approvers;
* :mod:`.render`: markdown and text;
* :mod:`.compare`: the entry points, :func:`diff` and :func:`diff_projects`.
"""

from __future__ import annotations

from .columns import COLUMN_RULES, ColumnRule, Delta, allowed_values, column_changes, column_rule
from .compare import diff, diff_projects
from .impact import compute_impact, dependency_graph
from .model import (
    ADDITIVE,
    BREAKING,
    BUMP_FOR,
    DEPRECATED_STATUSES,
    DESTINATION_CHANGE,
    DOCUMENTATION,
    EXTERNAL_LAYERS,
    IMPLEMENTATION,
    KINDS,
    Approver,
    Change,
    DiffReport,
    Impact,
    TableDiff,
    VersionCheck,
)
from .render import to_markdown, to_text
from .types import type_text, widens
from .versions import bump_of, parse_semver, version_check

__all__ = [
    "ADDITIVE",
    "BREAKING",
    "BUMP_FOR",
    "COLUMN_RULES",
    "DEPRECATED_STATUSES",
    "DESTINATION_CHANGE",
    "DOCUMENTATION",
    "EXTERNAL_LAYERS",
    "IMPLEMENTATION",
    "KINDS",
    "Approver",
    "Change",
    "ColumnRule",
    "Delta",
    "DiffReport",
    "Impact",
    "TableDiff",
    "VersionCheck",
    "allowed_values",
    "bump_of",
    "column_changes",
    "column_rule",
    "compute_impact",
    "dependency_graph",
    "diff",
    "diff_projects",
    "parse_semver",
    "to_markdown",
    "to_text",
    "type_text",
    "version_check",
    "widens",
]
