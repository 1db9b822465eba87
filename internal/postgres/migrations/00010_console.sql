-- +goose Up

-- Console sessions. The cookie holds a random id; only its SHA-256 is kept.
-- A session speaks with the rights of an API token: the one pasted at
-- sign-in, or one made for an emailed sign-in link (own_token), which
-- signing out revokes.
CREATE TABLE console_sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash       bytea NOT NULL UNIQUE,
    token_id   bigint NOT NULL REFERENCES api_tokens (id),
    own_token  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_token_id_idx ON console_sessions (token_id);

-- One-time sign-in links sent by email. The emailed token is a signature
-- of the row id; the row makes it single use and bounds how often one
-- address can be mailed.
CREATE TABLE console_signin_links (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manager_id bigint NOT NULL REFERENCES managers (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX console_signin_links_manager_idx ON console_signin_links (manager_id, created_at);

-- The contractor table's columns each console user chose: a manager keeps
-- them across tokens and sessions ("manager:ID"), others per token ("token:ID").
CREATE TABLE console_columns (
    subject text PRIMARY KEY,
    columns text[] NOT NULL
);

-- +goose Down
DROP TABLE console_columns, console_signin_links, console_sessions;
