-- Weekly receipts (refunds excluded) of the 26 weeks up to the as-of date, weeks ending on it.
select
    $as_of::date - (7 * ((($as_of::date - payment_date) // 7)))::integer as week_end,
    sum(amount_rc)::double as receipts_rc
from marts.fct_payments
where not is_refund and payment_date > $as_of::date - 182 and payment_date <= $as_of
group by all
order by week_end
