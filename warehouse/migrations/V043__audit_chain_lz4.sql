-- V043: the audit chain's link arrays compressed with lz4 instead of pglz (issue 16 §1: "chaining adds <= 15 % to
-- a bulk load"; bench/bench_audit.py). Storage only: the same bytes go in and come out, no hash, link or verify
-- changes, nothing is chained again, links written before stay pglz-compressed and read as before.
--
-- A page of 10,000 trades is one link whose record_keys (~35 bytes a key) and record_hashes (32 bytes a hash) are
-- a few hundred kilobytes each, compressed before they move to TOAST. pglz ran over the whole keys array (it
-- compresses well, so pglz never gave up early); lz4 compresses it as small, faster. Measured on a busy machine
-- (load 12-16, min of three): the chain trigger's backend cost for 100,000 raw trades in ten statements 3.44 s
-- with pglz, 3.18 s with lz4 (the plain insert 2.1 s): a small part of the chain's cost, and within the bench's
-- noise end to end (1,000,000 rows, pages in turns: pglz +15.4 %, lz4 +16.0 %).
--
-- Measured and left (issue 16 §1 is not met by this alone; the README's bench_audit section has the figures):
--   a row hash over each column's own text (newline-joined, text columns length-prefixed, trailing NULLs trimmed)
--   instead of the row's text: the trigger's cost 4.04 s -> 3.02 s on the same 100,000 rows. It is a second hash
--   definition (links before it keep V018's: a hash_version per link, verify hashing each record by its link's
--   version); a first verify written for it (each row joined to its latest entry, then hashed) was correct on the
--   tests' pages but took 435 s for 100,000 records (its plan not examined yet), so it is not in this migration.
--   The payload cannot be covered by its loader-computed record_hash instead: record_hash is not the payload's hash
--   on every table, and Python's canonical JSON cannot be rebuilt from jsonb in SQL at verify's pace. The jsonb
--   text is ~a quarter of the row hash; every definition that covers the payload pays it.
--
-- lz4 needs a server built with it (Debian's and the project's are); without it the columns keep pglz (a notice).

do $$
begin
    alter table audit.chain alter column record_keys set compression lz4,
                            alter column record_hashes set compression lz4;
exception when feature_not_supported then
    raise notice 'V043: this server has no lz4; audit.chain keeps pglz (chaining costs a little more)';
end $$;
