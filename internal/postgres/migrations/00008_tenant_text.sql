-- +goose Up

-- What a client types about a contractor (name, phone, feature, notes)
-- belongs to that client's membership. The global profile's name and phone
-- come only from the contractor (the registered event); once they are set
-- they are what every account shows, until then each account shows its own.

-- A new membership copies its contractor, keeping the client's own name
-- and phone where the contractor gave none.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION memberships_copy_contractor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.email, COALESCE(NULLIF(c.full_name, ''), NEW.full_name), COALESCE(NULLIF(c.phone, ''), NEW.phone),
           c.registered_at, c.phone_verified_at, c.tax_status, c.tax_status_set_at, c.payment_method_linked_at
      INTO NEW.email, NEW.full_name, NEW.phone, NEW.registered_at, NEW.phone_verified_at, NEW.tax_status,
           NEW.tax_status_set_at, NEW.payment_method_linked_at
      FROM contractors c WHERE c.id = NEW.contractor_id;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- The contractor's own name and phone reach every account; a blank one
-- leaves each account's as it is.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contractors_to_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships
       SET full_name = COALESCE(NULLIF(NEW.full_name, ''), full_name), phone = COALESCE(NULLIF(NEW.phone, ''), phone),
           registered_at = NEW.registered_at, phone_verified_at = NEW.phone_verified_at, tax_status = NEW.tax_status,
           tax_status_set_at = NEW.tax_status_set_at, payment_method_linked_at = NEW.payment_method_linked_at
     WHERE contractor_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Names and phones clients typed into the global profile of contractors
-- who never registered go back to the memberships (which hold a copy).
UPDATE contractors SET full_name = '', phone = ''
 WHERE registered_at IS NULL AND (full_name <> '' OR phone <> '');

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION memberships_copy_contractor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.email, c.full_name, c.phone, c.registered_at, c.phone_verified_at, c.tax_status,
           c.tax_status_set_at, c.payment_method_linked_at
      INTO NEW.email, NEW.full_name, NEW.phone, NEW.registered_at, NEW.phone_verified_at, NEW.tax_status,
           NEW.tax_status_set_at, NEW.payment_method_linked_at
      FROM contractors c WHERE c.id = NEW.contractor_id;
    RETURN NEW;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contractors_to_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships
       SET full_name = NEW.full_name, phone = NEW.phone, registered_at = NEW.registered_at,
           phone_verified_at = NEW.phone_verified_at, tax_status = NEW.tax_status,
           tax_status_set_at = NEW.tax_status_set_at, payment_method_linked_at = NEW.payment_method_linked_at
     WHERE contractor_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
