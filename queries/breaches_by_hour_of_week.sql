-- SLA breaches by hour of the week, in the account's time zone: when do targets slip?
--
-- weekday 1 is Monday; local_hour 0 is midnight to 1 a.m. in the account's time zone.
-- Parameters are the literals marked "parameter" below: edit them in place. The account and
-- the dates stay literals in the WHERE clause, because Athena reads them from the query text
-- to find the day folders (partition projection). Targets are seconds on the calendar clock,
-- compared with `value`, as the digest does for basis "calendar".
WITH targets (metric, target_seconds) AS (
    VALUES
        ('first_response', 1800),        -- parameter: first response target (seconds)
        ('reply_time', 3600),            -- parameter: reply time target (seconds)
        ('conversation_resolved', 86400) -- parameter: resolution target (seconds)
),
timed AS (
    SELECT
        e.value,
        t.target_seconds,
        -- created_at is UTC; the second zone is the account's (parameter: time zone)
        (e.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/Berlin' AS local_time
    FROM events AS e
    JOIN targets AS t ON t.metric = e.name
    WHERE e.account_id = '7'                               -- parameter: the Chatwoot account id
      AND e."date" BETWEEN '2026-11-01' AND '2026-11-30'   -- parameter: first and last day
)
SELECT
    -- 2001-01-01 was a Monday
    date_diff('day', DATE '2001-01-01', CAST(local_time AS DATE)) % 7 + 1 AS weekday,
    extract(HOUR FROM local_time) AS local_hour,
    count(*) AS events,
    count_if(value > target_seconds) AS breaches,
    CAST(count_if(value > target_seconds) AS DOUBLE) / count(*) AS breach_share
FROM timed
GROUP BY 1, 2
ORDER BY 1, 2
