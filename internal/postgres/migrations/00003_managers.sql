-- +goose Up

-- Who invited a manager (NULL: a client or staff token), named in the
-- invitation email.
ALTER TABLE managers ADD COLUMN invited_by bigint REFERENCES managers (id);

-- When staff verified or rejected the account's KYB, or when the account
-- was created reusing another account's verification.
ALTER TABLE accounts ADD COLUMN kyb_decided_at timestamptz;

-- +goose Down
ALTER TABLE accounts DROP COLUMN kyb_decided_at;
ALTER TABLE managers DROP COLUMN invited_by;
