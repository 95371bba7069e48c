"""SQL helpers: BigQuery-dialect model SQL run on DuckDB."""
