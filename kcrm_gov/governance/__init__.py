"""Governance workflow: the breaking-change gate stewards review, CODEOWNERS, freshness, schedules.

* :mod:`.diff`: compare every contract and model at a git ref with the working tree, classify
  each change (breaking / additive / documentation), enforce the semantic-version rule and list
  the impact of breaking changes (downstream tables and columns, syncs, marts, approvers);
* :mod:`.gitrefs`: the base ref and the project as it was at that ref;
* :mod:`.codeowners`: ``.github/CODEOWNERS`` from the stewards named in the contracts;
* :mod:`.formats`: ``check``'s output as text, JSON, GitHub workflow annotations or JUnit XML;
* :mod:`.freshness`: each contract's freshness SLA measured on a target;
* :mod:`.airflow`: a Cloud Composer / Airflow 2 DAG file for the scheduled builds;
* :mod:`.connectors`: raw contracts against the loaders' real column lists (``catalog/connectors/``).
"""
