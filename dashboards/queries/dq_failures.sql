-- Expectations that failed in the latest validation of each suite.
with latest as (
    select suite, max(validated_at) as validated_at from quality.dq_results group by suite
)
select
    results.suite,
    results.source,
    results.entity,
    results.expectation,
    results.column_name,
    results.severity,
    results.unexpected_count,
    results.sample_unexpected,
    results.validated_at
from quality.dq_results as results
inner join latest using (suite, validated_at)
where not results.success
order by results.severity, results.suite, results.expectation
