"""OpenLineage for kcrm-gov: column lineage from model SQL, run events for builds and tests, transports.

* :mod:`.columns`: column-level lineage of each model (sqlglot), cached by SQL hash;
* :mod:`.events`: OpenLineage events (openlineage-python's classes) and the build/test emitter;
* :mod:`.transport`: ``lineage/openlineage.yml`` with the client's env overrides, and the spool
  that keeps events an unreachable endpoint did not take.
"""
