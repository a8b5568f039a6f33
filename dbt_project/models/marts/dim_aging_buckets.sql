-- The aging buckets as a table: label, order and the range of days past due each holds, written
-- out from their one home, the macro aging_buckets(). A query that ages open items as of any
-- date (the AR aging page) joins on these ranges instead of repeating the thresholds.
-- A bound is null where the bucket has none: `current` has no lower bound (not yet due, however
-- far ahead), the oldest bucket no upper bound.

{%- set buckets = aging_buckets() %}

{% for bucket in buckets %}
select
    '{{ bucket.label }}' as aging_bucket,
    {{ bucket.order }} as aging_bucket_order,
    {% if loop.first -%}
    cast(null as integer)
    {%- else -%}
    cast({{ buckets[loop.index0 - 1].max_days_past_due + 1 }} as integer)
    {%- endif %} as min_days_past_due,
    {% if bucket.max_days_past_due is none -%}
    cast(null as integer)
    {%- else -%}
    cast({{ bucket.max_days_past_due }} as integer)
    {%- endif %} as max_days_past_due
{% if not loop.last %}union all{% endif %}
{% endfor %}
