"""kcrm-gov: governance-first data contracts for K CRM's BigQuery go-to-market warehouse."""

__version__ = "0.1.0"

LAYERS: tuple[str, ...] = ("raw", "stg", "core", "enr", "retl", "marts")
"""The warehouse layers, in the order data flows through them."""
