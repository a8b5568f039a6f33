-- Rows held back by ingestion, by source, entity, column and reason.
select source, entity, column_name, reason, n_rows, last_quarantined_at
from quality.quarantine_summary
order by n_rows desc, source, entity
