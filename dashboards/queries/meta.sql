-- The published build: id, time, source watermarks and check results (JSON).
select build_id, built_at, source_watermarks, check_results, tables
from _meta
