-- A collector's day in figures (fct_collector_daily, where they are computed): the page's tiles.
select
    worklist_items,
    worklist_open_rc::double as worklist_open_rc,
    promises_on_record,
    broken_promises,
    new_since_yesterday,
    open_ar_rc::double as open_ar_rc,
    past_due_ar_rc::double as past_due_ar_rc
from marts.fct_collector_daily
where collector_id = $collector_id
