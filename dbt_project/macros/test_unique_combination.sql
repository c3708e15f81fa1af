{#- Generic test: the combination of columns is unique (dbt_utils.unique_combination_of_columns, which
    cannot be installed here: dbt Hub is unreachable). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
