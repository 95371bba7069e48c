"""The BI semantic layer, generated from the marts contracts and ``catalog/metrics.yml``.

One module per BI format (as datacontract-cli has one exporter per format), each registered as a
``kcrm-gov generate`` subcommand by a command module: :mod:`.lookml` writes Looker's views and
explores (``kcrm-gov generate lookml``).
"""
