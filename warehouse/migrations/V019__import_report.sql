-- V019: the import report in ops.imports (issue 15). A file's rows in = lines loaded + quarantined + ignored, and
-- lines loaded is not a count of records (a Binance statement's trade is several lines, one record): it gets its
-- own column, and the ignored lines their reasons, grouped (reason → lines). Imports recorded before V019 keep
-- lines_loaded null (unknown) and no reasons.
alter table ops.imports add column if not exists lines_loaded integer;
alter table ops.imports add column if not exists ignored_reasons jsonb not null default '{}'::jsonb;

-- A re-import of the same file into the same account that changes nothing is not recorded again: the earlier
-- import is looked up by its file.
create index if not exists imports_by_file on ops.imports (tenant_id, account_id, file_sha256);
