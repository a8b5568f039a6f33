-- Data-quality check results per run, newest first.
select
    run_id,
    min(validated_at) as validated_at,
    count(*) as expectations,
    count(*) filter (where success) as passed,
    count(*) filter (where not success and severity = 'error') as errors,
    count(*) filter (where not success and severity = 'warn') as warnings
from quality.dq_results
group by run_id
order by validated_at desc
limit 30
