-- V043: the audit chain's link arrays compressed with lz4 instead of pglz (issue 16 §1: "chaining adds <= 15 % to
-- a bulk load"; bench/bench_audit.py). Storage only: the same bytes go in and come out, no hash, link or verify
-- changes, nothing is chained again, links written before stay pglz-compressed and read as before.
--
-- A page of 10,000 trades is one link whose record_keys (~35 bytes a key) and record_hashes (32 bytes a hash) are
-- each a few hundred kilobytes: PostgreSQL compresses them before moving them to TOAST. pglz ran over the whole
-- arrays (the keys compress well, so it never gave up early); lz4 compresses them as small and several times
-- faster (measured on 100,000 keys and hashes in pages of 10,000, min of three, busy machine: pglz 8.6 us a row,
-- lz4 4.2 us, storage 4.3 MB both). That is part of what V038 called the link's cost.
--
-- Measured and left: a row hash over a cheaper encoding than the row's text (each column's own text, '\n'-joined,
-- text columns length-prefixed: ~15-20 % less than audit.hash_of) would need a second hash definition for a small
-- gain; the jsonb payload's text (~a quarter of the row hash) is a cost every definition that covers the payload
-- pays; and the payload cannot be covered by its loader-computed record_hash instead (record_hash is not the
-- payload's hash on every table, and Python's canonical JSON cannot be rebuilt from jsonb in SQL at verify's pace).
--
-- lz4 needs a server built with it (Debian's and the project's are); without it the columns keep pglz (a notice).

do $$
begin
    alter table audit.chain alter column record_keys set compression lz4,
                            alter column record_hashes set compression lz4;
exception when feature_not_supported then
    raise notice 'V043: this server has no lz4; audit.chain keeps pglz (chaining costs a little more)';
end $$;
