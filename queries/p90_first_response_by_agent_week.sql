-- p90 of first response per agent and week (weeks start on Monday, days are the account's).
--
-- The percentile is exact and computed like the digest's: linear interpolation between the
-- closest ranks, rank = 0.9 x (n - 1) over the sorted values (numpy's default method).
-- Parameters are the literals marked "parameter" below: edit them in place. The account and
-- the dates stay literals in the WHERE clause, because Athena reads them from the query text
-- to find the day folders (partition projection).
WITH responses AS (
    SELECT
        CAST(date_trunc('week', CAST(e."date" AS DATE)) AS DATE) AS week_start,
        e.user_id,
        e.user_name,
        e.value
    FROM events AS e
    WHERE e.account_id = '7'                               -- parameter: the Chatwoot account id
      AND e."date" BETWEEN '2026-06-01' AND '2026-11-30'   -- parameter: first and last day
      AND e.name = 'first_response'
),
ranked AS (
    SELECT
        week_start,
        user_id,
        user_name,
        value,
        row_number() OVER (PARTITION BY week_start, user_id ORDER BY value) - 1 AS ordinal,
        CAST(count(*) OVER (PARTITION BY week_start, user_id) - 1 AS DOUBLE) * 0.9 AS rank_at,
        count(*) OVER (PARTITION BY week_start, user_id) AS responses
    FROM responses
),
bounds AS (
    SELECT
        week_start,
        user_id,
        max(user_name) AS user_name,
        max(responses) AS responses,
        max(rank_at) - floor(max(rank_at)) AS fraction,
        max(CASE WHEN ordinal = floor(rank_at) THEN value END) AS below,
        max(CASE WHEN ordinal = least(floor(rank_at) + 1, responses - 1) THEN value END) AS above
    FROM ranked
    GROUP BY week_start, user_id
)
SELECT
    week_start,
    user_id,
    user_name,
    responses,
    below + (above - below) * fraction AS p90_seconds
FROM bounds
ORDER BY week_start, user_id
