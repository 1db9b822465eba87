-- +goose Up

-- Settings the processes share, such as the generated signing key.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- A client dashboard. After a merge it points at the dashboard that absorbed it.
CREATE TABLE clients (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (name <> ''),
    merged_into_id bigint REFERENCES clients (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- An account: an independent profile of a dashboard (a company or a project).
CREATE TABLE accounts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id           bigint NOT NULL REFERENCES clients (id),
    name                text NOT NULL CHECK (name <> ''),
    kyb_status          text NOT NULL DEFAULT 'pending' CHECK (kyb_status IN ('pending', 'verified', 'rejected')),
    based_on_account_id bigint REFERENCES accounts (id),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_client_id_idx ON accounts (client_id);

-- A manager lives at the dashboard level; one email, one dashboard.
CREATE TABLE managers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id),
    email       text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND email <> ''),
    full_name   text NOT NULL DEFAULT '',
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'viewer')),
    locale      text NOT NULL DEFAULT 'ru' CHECK (locale IN ('ru', 'en')),
    status      text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'revoked')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz
);
CREATE INDEX managers_client_id_idx ON managers (client_id);
-- The dashboard's main profile: exactly one live owner.
CREATE UNIQUE INDEX managers_one_owner_idx ON managers (client_id) WHERE role = 'owner' AND status <> 'revoked';

CREATE TABLE manager_accounts (
    manager_id bigint NOT NULL REFERENCES managers (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (manager_id, account_id)
);
CREATE INDEX manager_accounts_account_id_idx ON manager_accounts (account_id);

-- A contractor's one global profile; the timestamps are the onboarding stages.
CREATE TABLE contractors (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                    text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND email <> ''),
    full_name                text NOT NULL DEFAULT '',
    phone                    text NOT NULL DEFAULT '',
    registered_at            timestamptz,
    phone_verified_at        timestamptz,
    tax_status               text CHECK (tax_status IN ('individual', 'individual_entrepreneur', 'self_employed')),
    tax_status_set_at        timestamptz,
    payment_method_linked_at timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now()
);

-- A contractor inside one account.
CREATE TABLE memberships (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    contractor_id bigint NOT NULL REFERENCES contractors (id),
    feature       text NOT NULL DEFAULT '',
    locale        text NOT NULL DEFAULT 'ru' CHECK (locale IN ('ru', 'en')),
    status        text NOT NULL CHECK (status IN ('invited', 'active', 'excluded')),
    invited_at    timestamptz NOT NULL DEFAULT now(),
    linked_at     timestamptz,
    excluded_at   timestamptz,
    UNIQUE (account_id, contractor_id)
);
CREATE INDEX memberships_contractor_id_idx ON memberships (contractor_id);

-- The managers (users) assigned to a contractor in an account.
CREATE TABLE membership_managers (
    membership_id bigint NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    manager_id    bigint NOT NULL REFERENCES managers (id) ON DELETE CASCADE,
    PRIMARY KEY (membership_id, manager_id)
);
CREATE INDEX membership_managers_manager_id_idx ON membership_managers (manager_id);

-- One outgoing email and the record of sending it. Each send, resend and
-- reminder is its own row: the row, not Redis, decides whether it was sent.
CREATE TABLE invitations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    membership_id bigint REFERENCES memberships (id),
    manager_id    bigint REFERENCES managers (id),
    kind          text NOT NULL CHECK (kind IN ('invite', 'added', 'resend', 'reminder', 'manager')),
    locale        text NOT NULL CHECK (locale IN ('ru', 'en')),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled')),
    attempts      int NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    queued_at     timestamptz NOT NULL DEFAULT now(),
    enqueued_at   timestamptz,  -- last handed to Redis
    claimed_until timestamptz,  -- a worker's lease while sending
    sent_at       timestamptz,
    message_id    text NOT NULL DEFAULT '',
    CHECK ((membership_id IS NULL) <> (manager_id IS NULL))
);
CREATE INDEX invitations_membership_id_idx ON invitations (membership_id);
CREATE INDEX invitations_manager_id_idx ON invitations (manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX invitations_unsent_idx ON invitations (enqueued_at NULLS FIRST)
    WHERE status IN ('queued', 'sending', 'retrying');

-- API tokens; only a SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('staff', 'client', 'manager')),
    client_id    bigint REFERENCES clients (id),
    manager_id   bigint REFERENCES managers (id),
    name         text NOT NULL DEFAULT '',
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK (   (kind = 'staff' AND client_id IS NULL AND manager_id IS NULL)
           OR (kind = 'client' AND client_id IS NOT NULL AND manager_id IS NULL)
           OR (kind = 'manager' AND client_id IS NOT NULL AND manager_id IS NOT NULL))
);

-- +goose Down
DROP TABLE api_tokens, invitations, membership_managers, memberships, contractors,
    manager_accounts, managers, accounts, clients, settings;
