{#- The aging buckets: the one home of their labels, order and bounds. fct_ar_aging assigns them
    (every other model reads the bucket from there), the marts' YAML tests accept these labels,
    and Python code that needs them reads forecasting/aging.py, which a test checks against this
    list. `max_days_past_due` is the largest number of days past due a bucket holds; the last
    bucket has none (everything older). -#}
{% macro aging_buckets() -%}
    {{ return([
        {'label': 'current', 'order': 0, 'max_days_past_due': 0},
        {'label': '1-30', 'order': 1, 'max_days_past_due': 30},
        {'label': '31-60', 'order': 2, 'max_days_past_due': 60},
        {'label': '61-90', 'order': 3, 'max_days_past_due': 90},
        {'label': '91-120', 'order': 4, 'max_days_past_due': 120},
        {'label': '121+', 'order': 5, 'max_days_past_due': none},
    ]) }}
{%- endmacro %}

{#- The labels in order, for accepted_values tests. -#}
{% macro aging_bucket_labels() -%}
    {{ return(aging_buckets() | map(attribute='label') | list) }}
{%- endmacro %}

{#- The bucket's `attribute` (label or order) of a number of days past due. -#}
{% macro aging_bucket_case(days_past_due, attribute) -%}
    {%- set buckets = aging_buckets() -%}
    case
        {%- for bucket in buckets if bucket.max_days_past_due is not none %}
        when {{ days_past_due }} <= {{ bucket.max_days_past_due }} then {{ aging_bucket_value(bucket, attribute) }}
        {%- endfor %}
        else {{ aging_bucket_value(buckets[-1], attribute) }}
    end
{%- endmacro %}

{% macro aging_bucket_value(bucket, attribute) -%}
    {%- if attribute == 'label' -%}'{{ bucket.label }}'{%- else -%}{{ bucket[attribute] }}{%- endif -%}
{%- endmacro %}

{#- The aging bucket's label of a number of days past due (`current` when not yet due). -#}
{% macro aging_bucket(days_past_due) -%}
    {{ aging_bucket_case(days_past_due, 'label') }}
{%- endmacro %}

{#- The aging bucket's position (0 = current … 5 = 121+), for sorting. -#}
{% macro aging_bucket_order(days_past_due) -%}
    {{ aging_bucket_case(days_past_due, 'order') }}
{%- endmacro %}
