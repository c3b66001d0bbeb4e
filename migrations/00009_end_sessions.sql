-- +goose Up

-- A user who cannot sign in, because they are inactive or deleted, holds no
-- session. The trigger deletes the sessions in the statement that takes
-- the user's access away, whichever code path writes it: SCIM's PATCH, PUT
-- and DELETE, a link of an existing user, or a staff action. Writes that
-- leave a user active and not deleted do not fire it.
-- +goose StatementBegin
CREATE FUNCTION users_end_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sessions WHERE user_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER users_end_sessions AFTER UPDATE OF active, deleted_at ON users
    FOR EACH ROW WHEN (NOT NEW.active OR NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION users_end_sessions();

-- +goose Down
DROP TRIGGER users_end_sessions ON users;
DROP FUNCTION users_end_sessions();
