package portal

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
)

// sessionEndMaker makes the crewjam IdP's assertions as usual and sets
// SessionNotOnOrAfter on their AuthnStatement.
type sessionEndMaker struct{ end time.Time }

func (m sessionEndMaker) MakeAssertion(req *saml.IdpAuthnRequest, session *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		return err
	}
	for i := range req.Assertion.AuthnStatements {
		req.Assertion.AuthnStatements[i].SessionNotOnOrAfter = &m.end
	}
	return nil
}

// sessionCookieMaxAge returns the Max-Age of the session cookie that p
// sets, or fails the test.
func sessionCookieMaxAge(t *testing.T, p testPage) int {
	t.Helper()
	for _, line := range p.Header.Values("Set-Cookie") {
		cookie, err := http.ParseSetCookie(line)
		if err == nil && cookie.Name == sessionCookie && cookie.Value != "" {
			return cookie.MaxAge
		}
	}
	t.Fatalf("no session cookie in %v", p.Header.Values("Set-Cookie"))
	return 0
}

func TestSessionNotOnOrAfterCapsSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ends time.Duration // SessionNotOnOrAfter, from now
		want time.Duration // the session's lifetime
	}{
		{name: "IdP session ends in two hours", ends: 2 * time.Hour, want: 2 * time.Hour},
		{name: "IdP session outlasts the user timeout", ends: 30 * 24 * time.Hour, want: userAbsoluteTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{})
			user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			start := time.Now()
			env.idp.idp.AssertionMaker = sessionEndMaker{end: start.Add(tt.ends)}
			b := env.newBrowser()

			acs := env.signInSPInitiated(b, "acme")
			if acs.Status != http.StatusSeeOther {
				t.Fatalf("ACS = %d, want 303:\n%s\nlogs:\n%s", acs.Status, acs.Body, env.logs)
			}
			var expires time.Time
			if err := env.db.GetContext(t.Context(), &expires, `SELECT expires_at FROM sessions WHERE user_id = $1`, user.ID); err != nil {
				t.Fatal(err)
			}
			if got := expires.Sub(start); got < tt.want-time.Second || got > tt.want+5*time.Second {
				t.Errorf("session lasts %s, want %s", got, tt.want)
			}
			if got, want := sessionCookieMaxAge(t, acs), int(tt.want.Seconds()); got < want-5 || got > want+1 {
				t.Errorf("cookie Max-Age = %d, want about %d", got, want)
			}

			if status, _ := env.me(b); status != http.StatusOK {
				t.Errorf("/me right after sign-in = %d, want 200", status)
			}
			env.clock.set(tt.want + time.Minute)
			if status, _ := env.me(b); status != http.StatusUnauthorized {
				t.Errorf("/me after the session's end = %d, want 401", status)
			}
		})
	}
}

func TestSessionNotOnOrAfterInPast(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	env.idp.idp.AssertionMaker = sessionEndMaker{end: time.Now().Add(-time.Minute)}
	b := env.newBrowser()

	acs := env.signInSPInitiated(b, "acme")
	if acs.Status != http.StatusForbidden {
		t.Errorf("ACS = %d, want 403", acs.Status)
	}
	if m := failureCodePattern.FindStringSubmatch(acs.Body); m == nil || m[1] != codeSessionEnded {
		t.Errorf("failure code = %v, want %s", m, codeSessionEnded)
	}
	if !strings.Contains(acs.Body, "session has already ended") {
		t.Errorf("failure page does not say that the session ended:\n%s", acs.Body)
	}
	if status, me := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("signed in as %v", me)
	}
	var sessions int
	if err := env.db.GetContext(t.Context(), &sessions, `SELECT count(*) FROM sessions`); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 {
		t.Errorf("sessions = %d, want 0", sessions)
	}
}
