-- +goose Up
-- The emails imports still owe, by import: the bulk sender takes a few of
-- each import's in turn (a loose index scan finds the imports), so one
-- client's large import cannot hold back another's.
CREATE INDEX invitations_owed_import_idx ON invitations (import_id, id)
    WHERE import_id IS NOT NULL AND status IN ('queued', 'sending', 'retrying');

-- A claim ('sending') no longer rewrites the membership: an attempt lasts
-- milliseconds, and the membership row (ten indexes) cost more than the
-- rest of the claim. The list shows the status before the attempt until
-- its outcome.
DROP TRIGGER invitations_to_memberships ON invitations;
CREATE TRIGGER invitations_to_memberships AFTER UPDATE OF status ON invitations
    FOR EACH ROW WHEN (NEW.membership_id IS NOT NULL AND NEW.kind <> 'reminder' AND OLD.status IS DISTINCT FROM NEW.status
                       AND NEW.status <> 'sending')
    EXECUTE FUNCTION invitations_to_memberships();

-- +goose Down
DROP TRIGGER invitations_to_memberships ON invitations;
CREATE TRIGGER invitations_to_memberships AFTER UPDATE OF status ON invitations
    FOR EACH ROW WHEN (NEW.membership_id IS NOT NULL AND NEW.kind <> 'reminder' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION invitations_to_memberships();
DROP INDEX invitations_owed_import_idx;
