-- Paths: each actor's events in time order with consecutive repeats
-- collapsed, numbered, cut to the steps after the anchor (start event) or
-- before it (end event, numbered backwards then flipped). Parameters are
-- bound by paths.go; the source rows come first.
WITH s AS (%s),
dedup AS (
    SELECT actor, event, ts FROM (
        SELECT actor, event, ts, lag(event) OVER (PARTITION BY actor ORDER BY ts, event) AS prev FROM s
    ) WHERE prev IS DISTINCT FROM event
),
ord AS (
    SELECT actor, event, row_number() OVER (PARTITION BY actor ORDER BY ts, event) AS rn FROM dedup
),
anchor AS (
    SELECT actor, %s AS r0 FROM ord %s GROUP BY actor
),
steps AS (
    SELECT o.actor, o.event, %s AS step
    FROM ord o JOIN anchor a USING (actor)
    WHERE %s
)
SELECT 'edge' AS kind, a.step::VARCHAR || '_' || a.event AS source, b.step::VARCHAR || '_' || b.event AS target, count(*) AS n
FROM steps a JOIN steps b ON a.actor = b.actor AND b.step = a.step + 1
GROUP BY ALL
UNION ALL
SELECT 'path', path, '', count(*) FROM (
    SELECT actor, string_agg(event, chr(31) ORDER BY step) AS path FROM steps GROUP BY actor
) GROUP BY ALL
