-- +goose Up
-- The emails imports still owe, by import: the bulk sender takes a few of
-- each import's in turn (a loose index scan finds the imports), so one
-- client's large import cannot hold back another's.
CREATE INDEX invitations_owed_import_idx ON invitations (import_id, id)
    WHERE import_id IS NOT NULL AND status IN ('queued', 'sending', 'retrying');

-- +goose Down
DROP INDEX invitations_owed_import_idx;
