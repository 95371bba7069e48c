"""The catalog: an mkdocs-material data dictionary generated from the project at build time.

The mkdocs plugin (:mod:`kcrm_gov.catalog.plugin`, registered as ``kcrm-gov-catalog``) asks
:func:`kcrm_gov.catalog.pages.render_site` for every generated page and hands them to mkdocs
as in-memory files: nothing is written into ``docs/`` and nothing generated is committed.

Inputs, all read-only: the contracts, models and ``catalog/*.yml`` of the :class:`Project`, the
generated Soda checks under ``checks/``, the run artifacts under ``.kcrm/`` (read defensively by
:mod:`kcrm_gov.catalog.artifacts`) and the contracts' git history (:mod:`kcrm_gov.catalog.history`).
The catalog shows no value of any column; the only data it reads are the marts aggregates its charts
draw (:mod:`kcrm_gov.catalog.charts`, read-only, never a personal-data or restricted column).
"""

from __future__ import annotations
