-- +goose Up

-- Every merge request, kept as the audit trail: who asked, when, the plan
-- and what moved.
CREATE TABLE merges (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_client_id  bigint NOT NULL REFERENCES clients (id),
    source_client_ids bigint[] NOT NULL CHECK (cardinality(source_client_ids) > 0),
    dry_run           boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    step              text NOT NULL DEFAULT '',
    progress          int NOT NULL DEFAULT 0,
    plan              jsonb,
    noop              boolean NOT NULL DEFAULT false,
    error             text NOT NULL DEFAULT '',
    requested_by      text NOT NULL DEFAULT '',
    token_id          bigint REFERENCES api_tokens (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    enqueued_at       timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX merges_open_idx ON merges (enqueued_at) WHERE status IN ('queued', 'running');

ALTER TABLE clients ADD COLUMN merged_at timestamptz;

-- The emails that tell everyone affected about a merge.
ALTER TABLE invitations ADD COLUMN merge_id bigint REFERENCES merges (id);
ALTER TABLE invitations DROP CONSTRAINT invitations_kind_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_kind_check
    CHECK (kind IN ('invite', 'added', 'resend', 'reminder', 'manager', 'merged'));

-- +goose Down
ALTER TABLE invitations DROP CONSTRAINT invitations_kind_check;
DELETE FROM invitations WHERE kind = 'merged';
ALTER TABLE invitations ADD CONSTRAINT invitations_kind_check
    CHECK (kind IN ('invite', 'added', 'resend', 'reminder', 'manager'));
ALTER TABLE invitations DROP COLUMN merge_id;
ALTER TABLE clients DROP COLUMN merged_at;
DROP TABLE merges;
