-- +goose Up

-- Each membership carries a copy of its contractor's onboarding columns and
-- of its last email's status, kept in step by the triggers below, so that
-- the list of one account filters, sorts and pages without joining.
ALTER TABLE memberships
    ADD COLUMN email                    text,
    ADD COLUMN full_name                text NOT NULL DEFAULT '',
    ADD COLUMN phone                    text NOT NULL DEFAULT '',
    ADD COLUMN registered_at            timestamptz,
    ADD COLUMN phone_verified_at        timestamptz,
    ADD COLUMN tax_status               text,
    ADD COLUMN tax_status_set_at        timestamptz,
    ADD COLUMN payment_method_linked_at timestamptz,
    ADD COLUMN send_status              text NOT NULL DEFAULT 'queued'
        CHECK (send_status IN ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled')),
    ADD COLUMN last_sent_at             timestamptz,
    ADD COLUMN notes                    text NOT NULL DEFAULT '';

UPDATE memberships m
   SET email = c.email, full_name = c.full_name, phone = c.phone, registered_at = c.registered_at,
       phone_verified_at = c.phone_verified_at, tax_status = c.tax_status, tax_status_set_at = c.tax_status_set_at,
       payment_method_linked_at = c.payment_method_linked_at
  FROM contractors c WHERE c.id = m.contractor_id;
UPDATE memberships m
   SET send_status = i.status, last_sent_at = i.sent_at
  FROM (SELECT DISTINCT ON (membership_id) membership_id, status, sent_at FROM invitations
         WHERE membership_id IS NOT NULL ORDER BY membership_id, id DESC) i
 WHERE i.membership_id = m.id;
ALTER TABLE memberships ALTER COLUMN email SET NOT NULL;

-- The furthest onboarding stage reached, and the red icon: registered, but
-- a required step (phone verification, tax status) is missing.
ALTER TABLE memberships
    ADD COLUMN stage text GENERATED ALWAYS AS (
        CASE
            WHEN payment_method_linked_at IS NOT NULL THEN 'payment_method_linked'
            WHEN tax_status IS NOT NULL THEN 'tax_status_set'
            WHEN phone_verified_at IS NOT NULL THEN 'phone_verified'
            WHEN registered_at IS NOT NULL THEN 'registered'
            WHEN send_status = 'sent' THEN 'invitation_sent'
            WHEN send_status = 'failed' THEN 'invitation_failed'
            ELSE 'invited'
        END) STORED,
    ADD COLUMN incomplete boolean GENERATED ALWAYS AS (
        registered_at IS NOT NULL AND (phone_verified_at IS NULL OR tax_status IS NULL)) STORED,
    -- What ?q= searches: the notes on skills and traits, stemmed as Russian
    -- (the 'russian' configuration stems Latin words as English). Only
    -- cards with notes are indexed: an import writes none, so it pays
    -- nothing here (stemming and indexing every row cost it a third of its
    -- speed).
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        CASE WHEN notes <> '' THEN to_tsvector('russian', notes) END) STORED;

CREATE EXTENSION IF NOT EXISTS btree_gin;
-- The list's filters, each in the default order (newest invitation first).
-- The stage and sending-status indexes leave out the values every new row
-- starts with ('invited', 'queued'), and the sign-up index the rows with no
-- sign-up: an import of new contractors adds nothing to them, and a filter
-- on those values reads the default order instead.
CREATE INDEX memberships_account_stage_idx ON memberships (account_id, stage, invited_at, id) WHERE stage <> 'invited';
CREATE INDEX memberships_account_send_idx ON memberships (account_id, send_status, invited_at, id) WHERE send_status <> 'queued';
CREATE INDEX memberships_account_tax_idx ON memberships (account_id, tax_status, invited_at, id) WHERE tax_status IS NOT NULL;
CREATE INDEX memberships_account_incomplete_idx ON memberships (account_id, invited_at, id) WHERE incomplete;
CREATE INDEX memberships_account_invited_idx ON memberships (account_id, invited_at, id);
-- Sorting by sign-up date reads those who signed up from here, then the
-- others in invitation order (see postgres.segments).
CREATE INDEX memberships_account_registered_idx ON memberships (account_id, registered_at, id) WHERE registered_at IS NOT NULL;
CREATE INDEX memberships_account_name_idx ON memberships (account_id, full_name, id);
CREATE INDEX memberships_search_idx ON memberships USING gin (account_id, search) WHERE notes <> '';
-- Who may be due a reminder: invited, their invitation delivered.
CREATE INDEX memberships_remind_idx ON memberships (invited_at) WHERE status = 'invited' AND send_status = 'sent';

-- A new membership copies its contractor when the inserting code did not.
-- +goose StatementBegin
CREATE FUNCTION memberships_copy_contractor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.email, c.full_name, c.phone, c.registered_at, c.phone_verified_at, c.tax_status,
           c.tax_status_set_at, c.payment_method_linked_at
      INTO NEW.email, NEW.full_name, NEW.phone, NEW.registered_at, NEW.phone_verified_at, NEW.tax_status,
           NEW.tax_status_set_at, NEW.payment_method_linked_at
      FROM contractors c WHERE c.id = NEW.contractor_id;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER memberships_copy_contractor BEFORE INSERT ON memberships
    FOR EACH ROW WHEN (NEW.email IS NULL) EXECUTE FUNCTION memberships_copy_contractor();

-- A contractor's change reaches every account they are in.
-- +goose StatementBegin
CREATE FUNCTION contractors_to_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships
       SET full_name = NEW.full_name, phone = NEW.phone, registered_at = NEW.registered_at,
           phone_verified_at = NEW.phone_verified_at, tax_status = NEW.tax_status,
           tax_status_set_at = NEW.tax_status_set_at, payment_method_linked_at = NEW.payment_method_linked_at
     WHERE contractor_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER contractors_to_memberships AFTER UPDATE ON contractors
    FOR EACH ROW WHEN ((OLD.full_name, OLD.phone, OLD.registered_at, OLD.phone_verified_at, OLD.tax_status,
                        OLD.tax_status_set_at, OLD.payment_method_linked_at)
                       IS DISTINCT FROM
                       (NEW.full_name, NEW.phone, NEW.registered_at, NEW.phone_verified_at, NEW.tax_status,
                        NEW.tax_status_set_at, NEW.payment_method_linked_at))
    EXECUTE FUNCTION contractors_to_memberships();

-- The sending status shown for a contractor is that of their latest
-- invitation (the first one or a resend); reminders have their own history
-- in the card. New memberships start as 'queued' (their first email is); a
-- resend is recorded by the code that queues it.
-- +goose StatementBegin
CREATE FUNCTION invitations_to_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships m
       SET send_status = NEW.status, last_sent_at = COALESCE(NEW.sent_at, m.last_sent_at)
     WHERE m.id = NEW.membership_id
       AND NOT EXISTS (SELECT 1 FROM invitations i
                        WHERE i.membership_id = NEW.membership_id AND i.id > NEW.id AND i.kind <> 'reminder');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER invitations_to_memberships AFTER UPDATE OF status ON invitations
    FOR EACH ROW WHEN (NEW.membership_id IS NOT NULL AND NEW.kind <> 'reminder' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION invitations_to_memberships();

-- Every onboarding event received, for the card's history and to drop replays.
CREATE TABLE contractor_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contractor_id bigint NOT NULL REFERENCES contractors (id),
    type          text NOT NULL CHECK (type IN ('registered', 'phone_verified', 'tax_status_set',
                                                'payment_method_linked', 'payment_method_unlinked')),
    at            timestamptz NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}',
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (contractor_id, type, at)
);

-- When the payment method was last linked or unlinked, so a late event
-- cannot undo a newer one.
ALTER TABLE contractors ADD COLUMN payment_method_changed_at timestamptz;

-- One reminder per step per membership, whoever runs the sweep.
ALTER TABLE invitations ADD COLUMN step int;
CREATE UNIQUE INDEX invitations_reminder_step_idx ON invitations (membership_id, step) WHERE kind = 'reminder';

-- Tasks of an account, each for one contractor, with every status change.
CREATE TABLE tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    membership_id bigint NOT NULL REFERENCES memberships (id),
    title         text NOT NULL CHECK (title <> ''),
    description   text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'done', 'accepted', 'cancelled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_membership_idx ON tasks (membership_id, id);
CREATE INDEX tasks_account_idx ON tasks (account_id, id);

CREATE TABLE task_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasks (id),
    status  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL DEFAULT ''
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

-- +goose Down
DROP TABLE task_events, tasks, contractor_events;
DROP INDEX invitations_reminder_step_idx;
ALTER TABLE invitations DROP COLUMN step;
ALTER TABLE contractors DROP COLUMN payment_method_changed_at;
DROP TRIGGER invitations_to_memberships ON invitations;
DROP TRIGGER contractors_to_memberships ON contractors;
DROP TRIGGER memberships_copy_contractor ON memberships;
DROP FUNCTION invitations_to_memberships(), contractors_to_memberships(), memberships_copy_contractor();
ALTER TABLE memberships DROP COLUMN search, DROP COLUMN incomplete, DROP COLUMN stage,
    DROP COLUMN notes, DROP COLUMN last_sent_at, DROP COLUMN send_status, DROP COLUMN payment_method_linked_at,
    DROP COLUMN tax_status_set_at, DROP COLUMN tax_status, DROP COLUMN phone_verified_at, DROP COLUMN registered_at,
    DROP COLUMN phone, DROP COLUMN email, DROP COLUMN full_name;
