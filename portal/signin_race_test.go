package portal

import (
	"net/http"
	"testing"
)

// TestSignInRacingDeactivation checks a password sign-in whose user is
// deactivated after the sign-in read them but before their session is
// stored. The sessions_check_user trigger then stores no session, and the
// sign-in must be refused and audited as refused, not as a success with
// a cookie that names no session.
func TestSignInRacingDeactivation(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.setPassword(user, testPassword)

	// Triggers fire in name order, so this one deactivates the user just
	// before sessions_check_user reads them, as a SCIM PATCH committing at
	// that moment would.
	env.exec(`CREATE FUNCTION test_deactivate_first() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			UPDATE users SET active = false WHERE id = NEW.user_id;
			RETURN NEW;
		END $$`)
	env.exec(`CREATE TRIGGER a_deactivate_first BEFORE INSERT ON sessions
		FOR EACH ROW EXECUTE FUNCTION test_deactivate_first()`)

	b := env.newBrowser()
	resp := login(b, env, "ada@acme.test", testPassword)
	if resp.Status != http.StatusForbidden {
		t.Errorf("/login = %d %q, want 403", resp.Status, resp.Location)
	}
	var signIns, refusals int
	env.db.Get(&signIns, `SELECT count(*) FROM audit_log WHERE action = 'user.signin'`)
	env.db.Get(&refusals, `SELECT count(*) FROM audit_log WHERE action = 'user.signin_refused'`)
	if signIns != 0 {
		t.Errorf("%d user.signin audit rows, want 0", signIns)
	}
	if refusals != 1 {
		t.Errorf("%d user.signin_refused audit rows, want 1", refusals)
	}
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("/me = %d, want 401", status)
	}
}
