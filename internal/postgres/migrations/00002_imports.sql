-- +goose Up

-- An uploaded file and the progress of importing it into one account. The
-- counters and checkpoint_line change in the same transaction as each batch
-- of rows, so a worker that dies resumes after the last committed row.
CREATE TABLE imports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts (id),
    token_id        bigint REFERENCES api_tokens (id), -- NULL: the command line
    file_name       text NOT NULL,
    format          text NOT NULL CHECK (format IN ('xlsx', 'csv')),
    size            bigint NOT NULL,
    sha256          text NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'rejected')),
    sheet           text NOT NULL DEFAULT '',
    header_row      int NOT NULL DEFAULT 0,
    header          text[] NOT NULL DEFAULT '{}',   -- the header cells, for the error report
    ignored_columns text[] NOT NULL DEFAULT '{}',
    total_rows      int,                            -- an estimate while running, exact when done
    processed_rows  int NOT NULL DEFAULT 0,
    checkpoint_line int NOT NULL DEFAULT 0,         -- the last spreadsheet row committed
    created         int NOT NULL DEFAULT 0,
    linked          int NOT NULL DEFAULT 0,
    skipped         int NOT NULL DEFAULT 0,
    failed          int NOT NULL DEFAULT 0,
    error_code      text NOT NULL DEFAULT '',
    error_message   text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz, -- a running worker's sign of life
    enqueued_at     timestamptz, -- last handed to Redis
    -- The same file for the same account is one import.
    UNIQUE (account_id, sha256)
);
CREATE INDEX imports_unfinished_idx ON imports (enqueued_at NULLS FIRST) WHERE status IN ('queued', 'running');

-- The file itself, in 1 MiB chunks, so that any worker can read it and
-- nothing needs the whole file in memory.
CREATE TABLE import_chunks (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq       int NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- The rows that failed, with their cells as read, for the error report.
CREATE TABLE import_errors (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line      int NOT NULL,
    raw       jsonb NOT NULL, -- ["cell", …]
    problems  jsonb NOT NULL, -- [{"column": …, "code": …, "reason": …}, …]
    PRIMARY KEY (import_id, line)
);

-- Emails queued by an import go to the bulk queue, also when requeued,
-- one task for each batch of rows (import_batch: the batch's last line).
-- No foreign key: imports are never deleted, and the check would cost a
-- lookup (and a row lock on the import) for every row of a large import.
ALTER TABLE invitations ADD COLUMN import_id bigint, ADD COLUMN import_batch int;
CREATE INDEX invitations_import_batch_idx ON invitations (import_id, import_batch) WHERE import_id IS NOT NULL;

-- +goose Down
ALTER TABLE invitations DROP COLUMN import_batch, DROP COLUMN import_id;
DROP TABLE import_errors, import_chunks, imports;
