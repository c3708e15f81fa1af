{#- The form a blockchain address is compared in when screening (pipelines/sources/sanctions/records.address_key,
    the same rule): EVM (0x + 40 hex) and bech32 written in one case are lower-cased; base58 is case-sensitive and
    stays as written. -#}
{% macro address_key(expression) %}
    case
        when btrim({{ expression }}) ~ '^0x[0-9a-fA-F]{40}$'
          or (btrim({{ expression }}) ~* '^(bc|tb|bcrt|ltc|tltc)1[02-9ac-hj-np-z]{6,87}$'
              and (btrim({{ expression }}) = lower(btrim({{ expression }}))
                   or btrim({{ expression }}) = upper(btrim({{ expression }}))))
            then lower(btrim({{ expression }}))
        else btrim({{ expression }})
    end
{% endmacro %}
