"""kcrm_gov.sql.transpile: BigQuery SQL run on DuckDB must return BigQuery's answer.

Every expected value below is BigQuery's documented result (the comment says which rule), never
DuckDB's output.  Where sqlglot alone gets it wrong, a second test shows the plain transpilation
giving the wrong answer, so that each rewrite is proven necessary.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from kcrm_gov.sql.transpile import TranspileError, to_duckdb


def _run(sql: str, setup: str = "") -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    if setup:
        con.execute(setup)
    return con.execute(sql).fetchall()


def bq(sql: str, setup: str = "") -> list[tuple]:
    """Run BigQuery SQL on DuckDB through to_duckdb."""
    return _run(to_duckdb(sql), setup)


def plain(sql: str, setup: str = "") -> list[tuple]:
    """Run BigQuery SQL on DuckDB through sqlglot alone (no rewrites)."""
    return _run(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0], setup)


def one(sql: str, setup: str = ""):
    [(value,)] = bq(sql, setup)
    return value


# ---------------------------------------------------------------- 1. CAST / SAFE_CAST to INT64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.5", None),  # BigQuery: a string with a fractional part is not an INT64 literal → NULL
        ("1e3", None),  # exponent notation is not an INT64 literal
        ("1_000", None),  # nor are digit separators
        ("abc", None),
        ("9223372036854775808", None),  # overflows INT64
        ("12", 12),
        (" 12 ", 12),  # surrounding spaces are accepted (ZetaSQL trims them)
        ("+5", 5),
        ("-7", -7),
        ("0x1F", 31),  # BigQuery: "A hex string can be cast to an integer", e.g. 0x123 → 291
        ("-0x1F", -31),  # ... and -0x123 → -291
    ],
)
def test_safe_cast_string_to_int64_follows_bigquery(text: str, expected: int | None) -> None:
    assert one(f"SELECT SAFE_CAST('{text}' AS INT64)") == expected
    # Same answer when the type is only known at run time (a column of raw strings).
    assert one(f"SELECT SAFE_CAST(s AS INT64) FROM (SELECT '{text}' AS s)") == expected


def test_safe_cast_string_rewrite_is_necessary() -> None:
    assert plain("SELECT SAFE_CAST('10.5' AS INT64)") == [(11,)]  # DuckDB rounds; BigQuery gives NULL
    assert plain("SELECT SAFE_CAST('1_000' AS INT64)") == [(1000,)]
    assert plain("SELECT SAFE_CAST('-0x1F' AS INT64)") == [(None,)]


def test_safe_cast_null_and_non_string_inputs() -> None:
    assert one("SELECT SAFE_CAST(NULL AS INT64)") is None
    assert one("SELECT SAFE_CAST(s AS INT64) FROM (SELECT CAST(NULL AS STRING) AS s)") is None
    # BigQuery: FLOAT64 → INT64 returns the closest integer; halfway cases round away from zero.
    assert one("SELECT SAFE_CAST(10.5 AS INT64)") == 11
    assert one("SELECT SAFE_CAST(CAST(2.5 AS FLOAT64) AS INT64)") == 3
    assert one("SELECT SAFE_CAST(CAST(-0.5 AS FLOAT64) AS INT64)") == -1
    assert one("SELECT CAST(f AS INT64) FROM (SELECT CAST(2.5 AS FLOAT64) AS f)") == 3
    # NUMERIC → INT64 also rounds half away from zero; BOOL → INT64 is 1/0; INT64 is unchanged.
    sql = "SELECT SAFE_CAST(NUMERIC '-2.5' AS INT64), SAFE_CAST(TRUE AS INT64), SAFE_CAST(7 AS INT64)"
    assert bq(sql) == [(-3, 1, 7)]
    assert one("SELECT SAFE_CAST(i AS INT64) FROM (SELECT 42 AS i)") == 42


def test_float_to_int64_rewrite_is_necessary() -> None:
    # DuckDB rounds a DOUBLE half to even (2.5 → 2, -0.5 → 0); BigQuery gives 3 and -1.
    sql = "SELECT CAST(CAST(2.5 AS FLOAT64) AS INT64), CAST(CAST(-0.5 AS FLOAT64) AS INT64)"
    assert bq(sql) == [(3, -1)]
    assert plain(sql) == [(2, 0)]


def test_cast_string_to_int64_fails_like_bigquery() -> None:
    # BigQuery: CAST('10.5' AS INT64) is an error ("Bad int64 value: 10.5"), not 11. The message
    # names the expression, never the value (it would carry a classified column's data into logs).
    with pytest.raises(duckdb.Error, match=r"Bad int64 value in CAST\(s AS INT64\)") as raised:
        bq("SELECT CAST(s AS INT64) FROM (SELECT '10.5' AS s)")
    assert "10.5" not in str(raised.value)
    assert one("SELECT CAST(s AS INT64) FROM (SELECT ' 12' AS s)") == 12
    assert plain("SELECT CAST('10.5' AS INT64)") == [(11,)]


# ---------------------------------------------------------------------------------- 2. NUMERIC


def test_numeric_is_decimal_38_9() -> None:
    # BigQuery NUMERIC has precision 38, scale 9; extra fractional digits round half away from zero.
    assert one("SELECT CAST('1.0000000005' AS NUMERIC)") == Decimal("1.000000001")
    assert one("SELECT SAFE_CAST('-1.0000000005' AS DECIMAL)") == Decimal("-1.000000001")  # DECIMAL = NUMERIC
    assert one("SELECT CAST('12345678901234567890.5' AS NUMERIC)") == Decimal("12345678901234567890.5")
    assert one("SELECT NUMERIC '1.5'") == Decimal("1.5")
    assert "DECIMAL(38, 9)" in to_duckdb("SELECT CAST(x AS NUMERIC) FROM t")
    # Parameterised NUMERIC(P, S) keeps its own precision and scale.
    assert "DECIMAL(10, 2)" in to_duckdb("SELECT CAST(x AS NUMERIC(10, 2)) FROM t")


def test_numeric_inside_a_struct_is_decimal_38_9_too() -> None:
    # type annotation shares the CAST's type node with the STRUCT's type; the rewrite must still
    # reach the CAST (reference tables are arrays of such structs)
    assert one("SELECT s.w FROM UNNEST([STRUCT(CAST('1.0000000005' AS NUMERIC) AS w)]) AS s") \
        == Decimal("1.000000001")
    assert "DECIMAL(38, 9)" in to_duckdb("SELECT STRUCT(CAST(x AS NUMERIC) AS w) FROM t")


def test_numeric_rewrite_is_necessary() -> None:
    assert plain("SELECT CAST('1.0000000005' AS NUMERIC)") == [(Decimal("1.000"),)]  # DECIMAL(18, 3)
    with pytest.raises(duckdb.Error):
        plain("SELECT CAST('12345678901234567890.5' AS NUMERIC)")  # does not fit DECIMAL(18, 3)


def test_bignumeric_is_refused() -> None:
    with pytest.raises(TranspileError, match="BIGNUMERIC") as err:
        to_duckdb("SELECT\n  CAST(amount AS BIGNUMERIC) FROM t")
    assert err.value.line == 2


# ---------------------------------------------------------------------------- 3. WITH OFFSET


def test_unnest_with_offset_is_zero_based() -> None:
    # BigQuery: WITH OFFSET numbers elements from 0.
    sql = "SELECT x, off FROM UNNEST(['a', 'b', 'c']) AS x WITH OFFSET AS off ORDER BY off"
    assert bq(sql) == [("a", 0), ("b", 1), ("c", 2)]
    assert plain(sql) == [("a", 1), ("b", 2), ("c", 3)]  # DuckDB ordinality counts from 1


def test_unnest_with_offset_default_alias_and_correlated_joins() -> None:
    # Without an alias the offset column is named `offset`.
    assert bq("SELECT * FROM UNNEST(['a', 'b']) AS x WITH OFFSET ORDER BY 2") == [("a", 0), ("b", 1)]
    setup = "CREATE TABLE t AS SELECT 1 AS id, ['a', 'b'] AS arr UNION ALL SELECT 2, []"
    assert bq(
        "SELECT t.id, x, o FROM t CROSS JOIN UNNEST(t.arr) AS x WITH OFFSET AS o ORDER BY t.id, o", setup
    ) == [(1, "a", 0), (1, "b", 1)]
    # LEFT JOIN UNNEST keeps the row with an empty array, with NULL element and offset.
    left = "SELECT t.id, x, o FROM t LEFT JOIN UNNEST(t.arr) AS x WITH OFFSET AS o ON TRUE ORDER BY t.id, o"
    assert bq(left, setup) == [(1, "a", 0), (1, "b", 1), (2, None, None)]
    # Struct elements keep their fields.
    assert bq("SELECT p.k, o FROM UNNEST([STRUCT('x' AS k)]) AS p WITH OFFSET AS o") == [("x", 0)]


# ------------------------------------------------------------------------------- 4. EXTRACT


def test_extract_dayofweek_sunday_is_one() -> None:
    # BigQuery: DAYOFWEEK returns values in [1, 7] with Sunday as the first day of the week.
    sql = "SELECT EXTRACT(DAYOFWEEK FROM DATE '2024-01-07'), EXTRACT(DAYOFWEEK FROM DATE '2024-01-13')"
    assert bq(sql) == [(1, 7)]  # 2024-01-07 is a Sunday, 2024-01-13 a Saturday
    assert plain(sql) == [(0, 6)]


def test_extract_week_isoweek_and_date() -> None:
    # BigQuery WEEK: weeks begin on Sunday; dates before the year's first Sunday are in week 0.
    assert one("SELECT EXTRACT(WEEK FROM DATE '2024-01-01')") == 0  # a Monday
    assert one("SELECT EXTRACT(WEEK FROM DATE '2024-01-07')") == 1  # the first Sunday
    assert plain("SELECT EXTRACT(WEEK FROM DATE '2024-01-01')") == [(1,)]  # DuckDB's WEEK is ISO
    assert one("SELECT EXTRACT(WEEK(MONDAY) FROM DATE '2024-01-01')") == 1
    # ISOWEEK: ISO 8601 week; 2023-01-01 (a Sunday) belongs to week 52 of 2022.
    assert bq("SELECT EXTRACT(ISOWEEK FROM DATE '2023-01-01'), EXTRACT(ISOWEEK FROM DATE '2023-01-02')") == [
        (52, 1)
    ]
    # EXTRACT(DATE FROM timestamp) is the UTC date.
    assert one("SELECT EXTRACT(DATE FROM TIMESTAMP '2024-01-17 23:30:00')") == dt.date(2024, 1, 17)
    for sql in (
        "SELECT EXTRACT(ISOWEEK FROM DATE '2023-01-01')",
        "SELECT EXTRACT(DATE FROM TIMESTAMP '2024-01-17')",
    ):
        with pytest.raises(duckdb.Error):
            plain(sql)


# ----------------------------------------------------------------- 5. DATE_ functions → DATE


def _is_date(value) -> bool:
    return type(value) is dt.date  # datetime.datetime is a subclass of date: compare exactly


def test_date_functions_return_date() -> None:
    # BigQuery: DATE_TRUNC/DATE_ADD/DATE_SUB on a DATE return a DATE.
    row = bq(
        "SELECT DATE_TRUNC(DATE '2024-01-17', MONTH), DATE_ADD(DATE '2024-01-17', INTERVAL 3 DAY),"
        " DATE_SUB(DATE '2024-03-31', INTERVAL 1 MONTH),"  # the month is shorter: its last day
        " DATE_ADD(DATE_TRUNC(DATE '2024-01-17', MONTH), INTERVAL 1 DAY),"
        " DATE_TRUNC(DATE '2024-01-17', ISOWEEK)"
    )[0]
    assert row == (
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 20),
        dt.date(2024, 2, 29),
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 15),
    )
    assert all(_is_date(v) for v in row)


def test_date_functions_rewrite_is_necessary() -> None:
    row = plain("SELECT DATE_TRUNC(DATE '2024-01-17', MONTH), DATE_ADD(DATE '2024-01-17', INTERVAL 3 DAY)")[0]
    assert not any(_is_date(v) for v in row)  # DuckDB returns TIMESTAMPs


def test_timestamp_functions_stay_timestamps() -> None:
    row = bq(
        "SELECT TIMESTAMP_TRUNC(TIMESTAMP '2024-01-17 10:00:00', DAY),"
        " TIMESTAMP_ADD(TIMESTAMP '2024-01-17 10:00:00', INTERVAL 1 HOUR),"
        " DATE_TRUNC(TIMESTAMP '2024-01-17 10:00:00', MONTH)"  # DATE_TRUNC of a TIMESTAMP is a TIMESTAMP
    )[0]
    utc = dt.UTC
    assert row == (
        dt.datetime(2024, 1, 17, tzinfo=utc),
        dt.datetime(2024, 1, 17, 11, tzinfo=utc),
        dt.datetime(2024, 1, 1, tzinfo=utc),
    )


# ------------------------------------------------------------------------ 6. FARM_FINGERPRINT


def test_farm_fingerprint_is_refused_with_position() -> None:
    with pytest.raises(TranspileError) as err:
        to_duckdb("SELECT\n  id,\n  FARM_FINGERPRINT(email) AS k\nFROM t", source="models/stg/x.sql")
    e = err.value
    assert "FARM_FINGERPRINT" in e.message and "no DuckDB equivalent" in e.message
    assert "TO_HEX(MD5" in e.message
    assert (e.line, e.col) == (3, 3)
    assert str(e).startswith("models/stg/x.sql:3:3: ")


# ------------------------------------------------------------------------ 7. SAFE.PARSE_DATE


def test_safe_parse_date_and_timestamp() -> None:
    # BigQuery: SAFE.PARSE_DATE returns NULL instead of an error for unparseable text.
    assert bq(
        "SELECT SAFE.PARSE_DATE('%Y-%m-%d', '2024-01-02'), SAFE.PARSE_DATE('%F', '2024-01-02'),"
        " SAFE.PARSE_DATE('%Y-%m-%d', 'not a date'), SAFE.PARSE_DATE('%Y%m%d', '20240230')"
    ) == [(dt.date(2024, 1, 2), dt.date(2024, 1, 2), None, None)]
    parsed = one("SELECT SAFE.PARSE_TIMESTAMP('%F %T', '2024-01-02 03:04:05')")
    assert parsed == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert one("SELECT SAFE.PARSE_TIMESTAMP('%F %T', 'garbage')") is None
    with pytest.raises(duckdb.Error):
        plain("SELECT SAFE.PARSE_DATE('%Y-%m-%d', '2024-01-02')")


def test_other_safe_functions_are_refused() -> None:
    with pytest.raises(TranspileError, match=r"SAFE\.SUBSTR is not supported"):
        to_duckdb("SELECT SAFE.SUBSTR('abc', 1, 2)")


# --------------------------------------------------------------------------- other rewrites


def test_timestamp_diff_counts_whole_units() -> None:
    # BigQuery docs: TIMESTAMP_DIFF('2001-02-01 01:00:00', '2001-02-01 00:00:01', HOUR) is 0, because
    # only whole HOUR intervals count.
    sql = "SELECT TIMESTAMP_DIFF(TIMESTAMP '2001-02-01 01:00:00', TIMESTAMP '2001-02-01 00:00:01', HOUR)"
    assert bq(sql) == [(0,)]
    assert plain(sql) == [(1,)]  # DuckDB DATE_DIFF counts hour boundaries
    assert (
        one("SELECT TIMESTAMP_DIFF(TIMESTAMP '2024-01-01 10:00:00', TIMESTAMP '2024-01-01 08:30:00', MINUTE)")
        == 90
    )


def test_array_agg_with_limit() -> None:
    # BigQuery: ARRAY_AGG(... ORDER BY ... LIMIT n) keeps the first n elements (the latest-row idiom).
    sql = "SELECT ARRAY_AGG(x ORDER BY x DESC LIMIT 2) FROM UNNEST([1, 3, 2]) AS x"
    assert bq(sql) == [([3, 2],)]
    assert one("SELECT ARRAY_AGG(x ORDER BY x DESC LIMIT 1)[OFFSET(0)] FROM UNNEST([1, 3, 2]) AS x") == 3
    with pytest.raises(duckdb.Error):
        plain(sql)


def test_three_part_names_drop_the_project() -> None:
    sql = "SELECT n FROM `kcrm-prod.raw.t`"
    assert to_duckdb(sql) == 'SELECT n FROM "raw"."t"'
    assert bq(sql, "CREATE SCHEMA raw; CREATE TABLE raw.t AS SELECT 1 AS n") == [(1,)]


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(TranspileError, match="syntax error") as err:
        to_duckdb("SELECT a\nFROM t\nWHERE (b = 1", source="m.sql")
    assert (err.value.line, err.value.col) == (3, 12)
    assert str(err.value).startswith("m.sql:3:12: ")


def test_tokenizer_error_is_a_transpile_error() -> None:
    with pytest.raises(TranspileError, match="syntax error"):
        to_duckdb("SELECT 'unterminated")


# ------------------------------------------------------- common constructs already right in sqlglot


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT JSON_VALUE('{\"plan\": \"pro\"}', '$.plan')", "pro"),
        ("SELECT JSON_VALUE('{\"a\": {\"b\": 1}}', '$.a')", None),  # non-scalar → NULL
        ("SELECT FORMAT_TIMESTAMP('%F %T', TIMESTAMP_MICROS(1700000000000000))", "2023-11-14 22:13:20"),
        ("SELECT PARSE_DATE('%Y%m%d', '20240102')", dt.date(2024, 1, 2)),
        ("SELECT LOWER(TRIM('  A@B.COM '))", "a@b.com"),
        ("SELECT REGEXP_EXTRACT('abc123', r'[0-9]+')", "123"),
        ("SELECT REGEXP_EXTRACT('abc123', r'([a-z]+)\\d')", "abc"),  # the capturing group
        ("SELECT REGEXP_EXTRACT('abc', r'z')", None),  # no match → NULL
        ("SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) AS x", 2),
        ("SELECT SAFE_DIVIDE(1, 0)", None),
        ("SELECT SAFE_DIVIDE(1, 4)", 0.25),
        ("SELECT DATE_DIFF(DATE '2024-01-10', DATE '2024-01-01', DAY)", 9),
        ("SELECT DATE_DIFF(DATE '2024-02-01', DATE '2024-01-31', MONTH)", 1),  # counts month boundaries
        # BigQuery docs: 2017-12-17 is a Sunday: 0 WEEK (Sunday) boundaries but 1 ISOWEEK boundary.
        ("SELECT DATE_DIFF(DATE '2017-12-18', DATE '2017-12-17', WEEK)", 0),
        ("SELECT DATE_DIFF(DATE '2017-12-18', DATE '2017-12-17', ISOWEEK)", 1),
        (
            "SELECT GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-03')",
            [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        ),
        ("SELECT FORMAT_DATE('%Y-%m', DATE '2024-01-02')", "2024-01"),
        ("SELECT FORMAT_DATE('%F', DATE '2024-01-02')", "2024-01-02"),
        ("SELECT ARRAY_AGG(STRUCT(x AS a) ORDER BY x) FROM UNNEST([2, 1]) AS x", [{"a": 1}, {"a": 2}]),
        ("SELECT * EXCEPT (b) FROM (SELECT 1 AS a, 2 AS b)", 1),
        ("SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a']) AS x", "a,b"),
        ("SELECT IFNULL(NULL, 1)", 1),
        ("SELECT COALESCE(NULL, NULL, 2)", 2),
        ("SELECT DATE(TIMESTAMP '2024-01-02 03:04:05')", dt.date(2024, 1, 2)),
        # BigQuery docs: LAST_DAY examples.
        ("SELECT LAST_DAY(DATE '2008-11-25', MONTH)", dt.date(2008, 11, 30)),
        ("SELECT LAST_DAY(DATE '2008-11-25')", dt.date(2008, 11, 30)),
        ("SELECT LAST_DAY(DATE '2008-11-25', YEAR)", dt.date(2008, 12, 31)),
        ("SELECT LAST_DAY(DATE '2008-11-10', WEEK(MONDAY))", dt.date(2008, 11, 16)),
        ("SELECT LAST_DAY(DATE '2008-11-10', WEEK)", dt.date(2008, 11, 15)),  # weeks end on Saturday
    ],
)
def test_common_constructs_give_bigquery_answers(sql: str, expected) -> None:
    assert one(sql) == expected


def test_current_date_is_the_utc_date() -> None:
    value = one("SELECT CURRENT_DATE()")
    assert _is_date(value) and value == dt.datetime.now(dt.UTC).date()


def test_stg_model_end_to_end() -> None:
    setup = """
        CREATE SCHEMA raw;
        CREATE TABLE raw.events AS SELECT * FROM (VALUES
            ('u1', ' A@B.COM ', '{"plan": "pro"}', 1700000000000000, '20231114', '12'),
            ('u1', 'a@b.com', '{"plan": "free"}', 1600000000000000, '20200913', '10.5'),
            ('u2', 'c@d.com', '{"plan": "team"}', 1700000000000000, '20231114', 'n/a')
        ) AS v(user_id, email, properties, event_timestamp, event_date, seats)
    """
    model = """
        WITH events AS (
          SELECT
            user_id,
            LOWER(TRIM(email)) AS email,
            JSON_VALUE(properties, '$.plan') AS plan,
            TIMESTAMP_MICROS(event_timestamp) AS event_at,
            PARSE_DATE('%Y%m%d', event_date) AS event_date,
            SAFE_CAST(seats AS INT64) AS seats
          FROM `kcrm-prod.raw.events`
        )
        SELECT user_id, email, plan, event_date, DATE_TRUNC(event_date, MONTH) AS event_month, seats,
               EXTRACT(DAYOFWEEK FROM event_date) AS weekday
        FROM events
        QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY event_at DESC) = 1
        ORDER BY user_id
    """
    # 2023-11-14 is a Tuesday (BigQuery DAYOFWEEK 3); 'n/a' is not an INT64 → NULL.
    assert bq(model, setup) == [
        ("u1", "a@b.com", "pro", dt.date(2023, 11, 14), dt.date(2023, 11, 1), 12, 3),
        ("u2", "c@d.com", "team", dt.date(2023, 11, 14), dt.date(2023, 11, 1), None, 3),
    ]


# ------------------------------------------------------------------------ UNNEST without an alias
def test_unaliased_unnest_of_structs_is_refused_with_the_fix() -> None:
    sql = "SELECT\n  (SELECT value.string_value FROM UNNEST(event_params) WHERE key = 'page_location') AS loc\nFROM t"
    with pytest.raises(TranspileError) as info:
        to_duckdb(sql, source="models/stg/ga4.sql")
    e = info.value
    assert e.line == 2 and "UNNEST without an alias" in e.message and "AS p" in e.message
    # the plain translation really does fail on DuckDB: the refusal is not a false alarm
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT [{'key': 'page_location', 'value': {'string_value': 'https://x'}}] "
                "AS event_params")
    with pytest.raises(duckdb.Error):
        con.execute(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]).fetchall()


def test_aliased_unnest_gives_bigquerys_answer() -> None:
    """BigQuery: the scalar subquery returns the page_location parameter's string value."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT [{'key': 'page_location', 'value': {'string_value': 'https://x'}}, "
                "{'key': 'page_title', 'value': {'string_value': 'Home'}}] AS event_params")
    sql = ("SELECT (SELECT p.value.string_value FROM UNNEST(event_params) AS p WHERE p.key = 'page_location') "
           "AS loc FROM t")
    assert con.execute(to_duckdb(sql)).fetchall() == [("https://x",)]
