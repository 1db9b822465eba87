-- +goose Up

-- Old .xls workbooks are read too; an import can be cancelled; the ignored
-- columns are kept as the first few plus a count; a caller's column mapping
-- is kept with the upload so that every attempt reads the file alike.
ALTER TABLE imports DROP CONSTRAINT imports_format_check,
    ADD CONSTRAINT imports_format_check CHECK (format IN ('xlsx', 'xls', 'csv'));
ALTER TABLE imports DROP CONSTRAINT imports_status_check,
    ADD CONSTRAINT imports_status_check CHECK (status IN ('queued', 'running', 'done', 'rejected', 'cancelled'));
ALTER TABLE imports
    ADD COLUMN ignored_count int NOT NULL DEFAULT 0,
    ADD COLUMN mapping jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN cancel_requested_at timestamptz;
-- The history of an account, newest first.
CREATE INDEX imports_account_idx ON imports (account_id, id DESC);

-- +goose Down
DROP INDEX imports_account_idx;
ALTER TABLE imports DROP COLUMN cancel_requested_at, DROP COLUMN mapping, DROP COLUMN ignored_count;
ALTER TABLE imports DROP CONSTRAINT imports_status_check,
    ADD CONSTRAINT imports_status_check CHECK (status IN ('queued', 'running', 'done', 'rejected'));
ALTER TABLE imports DROP CONSTRAINT imports_format_check,
    ADD CONSTRAINT imports_format_check CHECK (format IN ('xlsx', 'csv'));
