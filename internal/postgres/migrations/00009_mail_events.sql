-- +goose Up

-- A hard bounce or a complaint ends an email with its own status, shown
-- in the list as the contractor's sending status.
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check,
    ADD CONSTRAINT invitations_status_check CHECK (status IN
        ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled', 'bounced', 'complained'));
ALTER TABLE memberships DROP CONSTRAINT memberships_send_status_check,
    ADD CONSTRAINT memberships_send_status_check CHECK (send_status IN
        ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled', 'bounced', 'complained'));

-- The list's stage follows: a hard bounce is a failed invitation, a
-- complaint a delivered one. (A generated column is re-created to change.)
ALTER TABLE memberships DROP COLUMN stage;
ALTER TABLE memberships ADD COLUMN stage text GENERATED ALWAYS AS (
        CASE
            WHEN payment_method_linked_at IS NOT NULL THEN 'payment_method_linked'
            WHEN tax_status IS NOT NULL THEN 'tax_status_set'
            WHEN phone_verified_at IS NOT NULL THEN 'phone_verified'
            WHEN registered_at IS NOT NULL THEN 'registered'
            WHEN send_status IN ('sent', 'complained') THEN 'invitation_sent'
            WHEN send_status IN ('failed', 'bounced') THEN 'invitation_failed'
            ELSE 'invited'
        END) STORED;
CREATE INDEX memberships_account_stage_idx ON memberships (account_id, stage, invited_at, id) WHERE stage <> 'invited';

-- What the mail provider told us about each email, keyed by its Message-ID.
CREATE TABLE mail_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invitation_id bigint NOT NULL REFERENCES invitations (id),
    type          text NOT NULL CHECK (type IN ('delivered', 'bounced', 'complained')),
    bounce        text NOT NULL DEFAULT '' CHECK (bounce IN ('', 'hard', 'soft')),
    at            timestamptz NOT NULL,
    detail        text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invitation_id, type, at)
);

-- Addresses no email goes to: every send checks this before SMTP.
CREATE TABLE suppressions (
    email         text PRIMARY KEY CHECK (email = lower(btrim(email)) AND email <> ''),
    reason        text NOT NULL CHECK (reason IN ('bounced', 'complained')),
    invitation_id bigint REFERENCES invitations (id),
    detail        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One-click unsubscribe (RFC 8058) from a reminder stops the reminders of
-- that membership only.
ALTER TABLE memberships ADD COLUMN reminders_stopped_at timestamptz;

-- +goose Down
ALTER TABLE memberships DROP COLUMN reminders_stopped_at;
DROP TABLE suppressions, mail_events;
UPDATE invitations SET status = 'failed' WHERE status IN ('bounced', 'complained');
UPDATE memberships SET send_status = 'failed' WHERE send_status IN ('bounced', 'complained');
ALTER TABLE memberships DROP COLUMN stage;
ALTER TABLE memberships ADD COLUMN stage text GENERATED ALWAYS AS (
        CASE
            WHEN payment_method_linked_at IS NOT NULL THEN 'payment_method_linked'
            WHEN tax_status IS NOT NULL THEN 'tax_status_set'
            WHEN phone_verified_at IS NOT NULL THEN 'phone_verified'
            WHEN registered_at IS NOT NULL THEN 'registered'
            WHEN send_status = 'sent' THEN 'invitation_sent'
            WHEN send_status = 'failed' THEN 'invitation_failed'
            ELSE 'invited'
        END) STORED;
CREATE INDEX memberships_account_stage_idx ON memberships (account_id, stage, invited_at, id) WHERE stage <> 'invited';
ALTER TABLE memberships DROP CONSTRAINT memberships_send_status_check,
    ADD CONSTRAINT memberships_send_status_check CHECK (send_status IN
        ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled'));
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check,
    ADD CONSTRAINT invitations_status_check CHECK (status IN
        ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled'));
