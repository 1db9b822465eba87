-- +goose Up

-- Old .xls workbooks are read too. An import can be cancelled. The ignored
-- columns are kept as the first few plus a count. A caller's column mapping
-- is kept with the upload, so that every attempt reads the file alike, and
-- the same file with another mapping is another import.
ALTER TABLE imports DROP CONSTRAINT imports_format_check,
    ADD CONSTRAINT imports_format_check CHECK (format IN ('xlsx', 'xls', 'csv'));
ALTER TABLE imports
    ADD COLUMN ignored_count int NOT NULL DEFAULT 0,
    ADD COLUMN mapping jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN cancel_requested_at timestamptz,
    -- A preview (dry run) reads and classifies every row and writes none.
    -- It ends 'previewed' with its findings in preview, and is 'expired'
    -- (its file deleted) once expires_at has passed unconfirmed.
    ADD COLUMN mode text NOT NULL DEFAULT 'import' CHECK (mode IN ('import', 'preview')),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN preview jsonb,
    ADD COLUMN confirmed_import_id bigint REFERENCES imports (id);
ALTER TABLE imports DROP CONSTRAINT imports_status_check,
    ADD CONSTRAINT imports_status_check
        CHECK (status IN ('queued', 'running', 'done', 'rejected', 'cancelled', 'previewed', 'expired'));
ALTER TABLE imports DROP CONSTRAINT imports_account_id_sha256_key;
CREATE UNIQUE INDEX imports_file_idx ON imports (account_id, sha256, mapping) WHERE mode = 'import';
-- The history of an account, newest first.
CREATE INDEX imports_account_idx ON imports (account_id, id DESC);
CREATE INDEX imports_preview_expiry_idx ON imports (expires_at) WHERE mode = 'preview' AND status <> 'expired';

-- +goose Down
DROP INDEX imports_preview_expiry_idx;
DROP INDEX imports_account_idx;
DROP INDEX imports_file_idx;
DELETE FROM imports WHERE mode = 'preview';
ALTER TABLE imports ADD CONSTRAINT imports_account_id_sha256_key UNIQUE (account_id, sha256);
ALTER TABLE imports DROP CONSTRAINT imports_status_check,
    ADD CONSTRAINT imports_status_check CHECK (status IN ('queued', 'running', 'done', 'rejected'));
ALTER TABLE imports DROP COLUMN confirmed_import_id, DROP COLUMN preview, DROP COLUMN expires_at, DROP COLUMN mode,
    DROP COLUMN cancel_requested_at, DROP COLUMN mapping, DROP COLUMN ignored_count;
ALTER TABLE imports DROP CONSTRAINT imports_format_check,
    ADD CONSTRAINT imports_format_check CHECK (format IN ('xlsx', 'csv'));
