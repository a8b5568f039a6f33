-- dbt source freshness per raw table, as the last check recorded it (quality.source_freshness):
-- stale when dbt said warn or error; neither fresh nor stale when not configured here or unknown.
select
    source,
    entity,
    status,
    case status when 'pass' then false when 'warn' then true when 'error' then true end as stale,
    last_loaded_at,
    age_hours,
    warn_after,
    error_after,
    checked_at
from quality.source_freshness
order by source, entity
