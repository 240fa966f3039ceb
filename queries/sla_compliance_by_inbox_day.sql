-- SLA compliance per inbox and day: how many events met their target, how many breached it.
--
-- Parameters are the literals marked "parameter" below: edit them in place. The account and
-- the dates stay literals in the WHERE clause, because Athena reads them from the query text
-- to find the day folders (partition projection). Targets are seconds on the calendar clock,
-- compared with `value`, as the digest does for basis "calendar".
WITH targets (metric, target_seconds) AS (
    VALUES
        ('first_response', 1800),        -- parameter: first response target (seconds)
        ('reply_time', 3600),            -- parameter: reply time target (seconds)
        ('conversation_resolved', 86400) -- parameter: resolution target (seconds)
)
SELECT
    e."date" AS report_day,
    e.inbox_id,
    e.inbox_name,
    e.name AS metric,
    count(*) AS events,
    count_if(e.value <= t.target_seconds) AS met,
    count_if(e.value > t.target_seconds) AS breached,
    CAST(count_if(e.value <= t.target_seconds) AS DOUBLE) / count(*) AS compliance
FROM events AS e
JOIN targets AS t ON t.metric = e.name
WHERE e.account_id = '7'                               -- parameter: the Chatwoot account id
  AND e."date" BETWEEN '2026-11-01' AND '2026-11-30'   -- parameter: first and last day
GROUP BY e."date", e.inbox_id, e.inbox_name, e.name
ORDER BY report_day, e.inbox_id, e.inbox_name, metric
