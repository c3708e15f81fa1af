-- V038: the audit chain's row hash (V018's audit.hash_of) computed a quarter cheaper, byte for byte the same (issue 16
-- §1: "chaining adds <= 15 % to a bulk load"; bench/bench_audit.py).
--
-- V018 trims the row's trailing NULLs with rtrim(text, ',)'). In a UTF-8 database rtrim of text measures every
-- character of the whole row text (~530 characters for a trade) before trimming its end: ~2 us of the ~8 us the
-- hash cost a row (backend CPU, 100,000 raw trades). The bytes are trimmed instead: ',' and ')' are ASCII, and no
-- byte of a multi-byte UTF-8 character is below 0x80, so trimming the UTF-8 bytes removes exactly what trimming the
-- characters removed. Same definition, same hashes: nothing already chained is chained again, verify is unchanged
-- (and a quarter faster too: it recomputes this for every record). tests/integration/test_audit_row_hash.py compares
-- it with V018's expression on awkward rows of every chained raw table.
--
-- Measured and left as it is (figures in the README's bench_audit section): links written by the loader itself. The
-- loader holds each row, but not PostgreSQL's text of it (numeric(38,18) padding, timestamptz and jsonb output,
-- the composite's quoting): rebuilding that text in Python cost ten times what the server's record_out costs, and
-- with the hash computed by the server (INSERT … RETURNING) the link saved nothing over the trigger's.
create or replace function audit.hash_of(record anyelement) returns bytea
language sql stable parallel safe as $$
    select sha256(rtrim(convert_to(record::text, 'UTF8'), decode('2c29', 'hex')) || decode('29', 'hex'))
$$;
