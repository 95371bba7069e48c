-- stg.ga4__events: one row per GA4 event, de-duplicated across Google's restated daily shards,
-- with the event parameters and user properties the business uses unnested into typed columns.
WITH deduplicated AS (
  SELECT
    TO_HEX(MD5(CONCAT(
      user_pseudo_id, '|',
      CAST(event_timestamp AS STRING), '|',
      event_name, '|',
      CAST(event_bundle_sequence_id AS STRING)
    ))) AS event_id,
    -- the columns read below, listed: `SELECT expr, *` loses the RECORD columns on the BigQuery
    -- emulator (.ci/BQEMULATOR.md), and a list reads only what is used
    event_date,
    event_timestamp,
    event_name,
    event_params,
    user_id,
    user_pseudo_id,
    user_first_touch_timestamp,
    user_properties,
    device,
    geo,
    traffic_source,
    collected_traffic_source,
    stream_id,
    platform,
    _loaded_at
  FROM raw.ga4__events
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  -- Google rewrites a day's shard for up to 72 hours; a restated event keeps its raw key, so keep
  -- the copy from the most recent shard.
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY user_pseudo_id, event_timestamp, event_name, event_bundle_sequence_id
    ORDER BY _loaded_at DESC
  ) = 1
),

-- Event parameters and user properties pivoted to one row per event in a single pass over each
-- array (one GROUP BY instead of a correlated subquery per parameter: the same answer, and far
-- cheaper on DuckDB). A key repeated within one event keeps its greatest value.
event_param_values AS (
  SELECT
    d.event_id,
    MAX(IF(p.key = 'ga_session_id', p.value.int_value, NULL)) AS ga_session_id,
    MAX(IF(p.key = 'ga_session_number', p.value.int_value, NULL)) AS ga_session_number,
    MAX(IF(p.key = 'page_location', p.value.string_value, NULL)) AS page_location,
    MAX(IF(p.key = 'page_title', p.value.string_value, NULL)) AS page_title,
    MAX(IF(p.key = 'page_referrer', p.value.string_value, NULL)) AS page_referrer,
    MAX(IF(p.key = 'engagement_time_msec', p.value.int_value, NULL)) AS engagement_time_msec,
    MAX(IF(p.key = 'form_id', p.value.string_value, NULL)) AS form_id,
    MAX(IF(
      p.key = 'value',
      COALESCE(p.value.double_value, p.value.float_value, CAST(p.value.int_value AS FLOAT64)),
      NULL
    )) AS event_value,
    MAX(IF(p.key = 'campaign', p.value.string_value, NULL)) AS param_campaign,
    MAX(IF(p.key = 'source', p.value.string_value, NULL)) AS param_source,
    MAX(IF(p.key = 'medium', p.value.string_value, NULL)) AS param_medium,
    MAX(IF(p.key = 'term', p.value.string_value, NULL)) AS param_term,
    MAX(IF(p.key = 'content', p.value.string_value, NULL)) AS param_content
  FROM deduplicated AS d
  CROSS JOIN UNNEST(d.event_params) AS p
  GROUP BY d.event_id
),

user_property_values AS (
  SELECT
    d.event_id,
    MAX(IF(u.key = 'account_domain', u.value.string_value, NULL)) AS user_account_domain,
    MAX(IF(u.key = 'plan', u.value.string_value, NULL)) AS user_plan
  FROM deduplicated AS d
  CROSS JOIN UNNEST(d.user_properties) AS u
  GROUP BY d.event_id
),

flattened AS (
  SELECT
    d.event_id,
    CAST(TIMESTAMP_MICROS(d.event_timestamp) AS TIMESTAMP) AS event_at,
    PARSE_DATE('%Y%m%d', d.event_date) AS event_date,
    LOWER(TRIM(d.event_name)) AS event_name,
    d.user_pseudo_id,
    LOWER(TRIM(d.user_id)) AS user_id,
    ep.ga_session_id,
    ep.ga_session_number,
    ep.page_location,
    ep.page_title,
    ep.page_referrer,
    ep.engagement_time_msec,
    ep.form_id,
    ep.event_value,
    ep.param_campaign,
    ep.param_source,
    ep.param_medium,
    ep.param_term,
    ep.param_content,
    up.user_account_domain,
    up.user_plan,
    d.collected_traffic_source.manual_campaign_id AS utm_campaign_id,
    d.collected_traffic_source.manual_campaign_name AS utm_campaign,
    d.collected_traffic_source.manual_source AS utm_source,
    d.collected_traffic_source.manual_medium AS utm_medium,
    d.collected_traffic_source.manual_term AS utm_term,
    d.collected_traffic_source.manual_content AS utm_content,
    d.collected_traffic_source.gclid AS gclid,
    d.traffic_source.name AS first_user_campaign,
    d.traffic_source.source AS first_user_source,
    d.traffic_source.medium AS first_user_medium,
    d.user_first_touch_timestamp,
    d.device.category AS device_category,
    d.device.operating_system AS device_os,
    d.device.mobile_brand_name AS device_brand,
    d.device.language AS device_language,
    d.device.web_info.browser AS browser,
    d.device.web_info.browser_version AS browser_version,
    d.device.web_info.hostname AS hostname,
    d.geo.country AS geo_country,
    d.geo.region AS geo_region,
    d.geo.city AS geo_city,
    d.geo.continent AS geo_continent,
    d.geo.sub_continent AS geo_sub_continent,
    d.stream_id,
    d.platform,
    d._loaded_at
  FROM deduplicated AS d
  LEFT JOIN event_param_values AS ep ON ep.event_id = d.event_id
  LEFT JOIN user_property_values AS up ON up.event_id = d.event_id
)

SELECT
  event_id,
  event_at,
  event_date,
  event_name,
  user_pseudo_id,
  NULLIF(user_id, '') AS user_id,
  ga_session_id,
  CASE
    WHEN ga_session_id IS NOT NULL THEN CONCAT(user_pseudo_id, '.', CAST(ga_session_id AS STRING))
  END AS session_key,
  ga_session_number,
  page_location,
  CASE
    WHEN page_location IS NOT NULL
      THEN COALESCE(NULLIF(REGEXP_EXTRACT(page_location, r'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)'), ''), '/')
  END AS page_path,
  page_title,
  page_referrer,
  engagement_time_msec,
  form_id,
  event_value,
  -- Event-scoped acquisition: the landing URL's UTM parameters as GA4 collected them
  -- (collected_traffic_source, exported since mid-2023), else the campaign/source/medium/term/content
  -- event parameters that GA4 set on the landing hit before that.
  NULLIF(TRIM(COALESCE(utm_campaign, param_campaign)), '') AS campaign,
  NULLIF(LOWER(TRIM(COALESCE(utm_source, param_source))), '') AS source,
  NULLIF(LOWER(TRIM(COALESCE(utm_medium, param_medium))), '') AS medium,
  NULLIF(LOWER(TRIM(COALESCE(utm_term, param_term))), '') AS term,
  NULLIF(TRIM(COALESCE(utm_content, param_content)), '') AS content,
  utm_campaign_id AS campaign_id,
  gclid,
  TRIM(first_user_campaign) AS first_user_campaign,
  LOWER(TRIM(first_user_source)) AS first_user_source,
  LOWER(TRIM(first_user_medium)) AS first_user_medium,
  CAST(TIMESTAMP_MICROS(user_first_touch_timestamp) AS TIMESTAMP) AS user_first_touch_at,
  NULLIF(LOWER(TRIM(user_account_domain)), '') AS user_account_domain,
  NULLIF(LOWER(TRIM(user_plan)), '') AS user_plan,
  LOWER(TRIM(device_category)) AS device_category,
  device_os,
  device_brand,
  LOWER(TRIM(device_language)) AS device_language,
  browser,
  browser_version,
  LOWER(TRIM(hostname)) AS hostname,
  geo_country,
  geo_region,
  geo_city,
  geo_continent,
  geo_sub_continent,
  stream_id,
  platform,
  _loaded_at AS loaded_at,
  _loaded_at > TIMESTAMP_ADD(event_at, INTERVAL 24 HOUR) AS is_late_arriving
FROM flattened
