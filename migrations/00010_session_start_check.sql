-- +goose Up

-- users_end_sessions deletes a user's sessions in the statement that makes
-- them inactive or deleted. A session inserted while that statement's
-- transaction is still open escapes it: the delete has already run, and
-- the insert's foreign key check does not wait for the user's row. This
-- trigger makes a tenant user's session insert lock the user's row FOR
-- SHARE, which waits for such a transaction to end and then reads the
-- committed row. When the user can no longer sign in, the session is
-- silently not inserted, so the request that started it finds no session
-- afterwards. Staff sessions are not checked.
-- +goose StatementBegin
CREATE FUNCTION sessions_check_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM users
        WHERE id = NEW.user_id AND active AND deleted_at IS NULL
        FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER sessions_check_user BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_check_user();

-- +goose Down
DROP TRIGGER sessions_check_user ON sessions;
DROP FUNCTION sessions_check_user();
