-- Values the AR filters offer.
select distinct 'collector' as filter, collector_name as value from marts.dim_customers
union all
select distinct 'region', region from marts.dim_customers
union all
select distinct 'segment', segment from marts.dim_customers
union all
select distinct 'currency', currency from marts.fct_ar_aging
order by filter, value
