package portal

import (
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/secrets"
)

// setupRequest inserts a submitted setup request whose IdP settings name
// idp, proposing tenant slug "newco", and returns its ID and status secret.
func (env *signinEnv) setupRequest(entityID string, certs []*x509.Certificate) (string, secrets.LinkSecret) {
	env.t.Helper()
	secret := secrets.NewLinkSecret()
	var ders pq.ByteaArray
	for _, c := range certs {
		ders = append(ders, c.Raw)
	}
	var id string
	err := env.db.GetContext(env.t.Context(), &id, `
		WITH request AS (
		    INSERT INTO setup_requests (reference, state, company_name, email_domains, product, contact_name, contact_email,
		        idp_entity_id, sso_url, sso_binding, certificates, scim_requested, require_sso, autoprovision, tenant_slug)
		    VALUES ('GH-NEWC-0001', 'submitted', 'Newco', '{newco.test}', 'meal_program', 'Ida', 'ida@newco.test',
		        $1, $2, $3, $4, false, true, false, 'newco')
		    RETURNING id
		), link AS (
		    INSERT INTO status_links (hash, request_id, expires_at) SELECT $5, id, now() + interval '30 days' FROM request
		)
		SELECT id FROM request`,
		entityID, env.idp.ssoURL(), saml.HTTPRedirectBinding, ders, secret.Hash())
	if err != nil {
		env.t.Fatal(err)
	}
	return id, secret
}

// runTest starts a test sign-in from the status page and follows it
// through the IdP back to the ACS, returning the ACS's response.
func (env *signinEnv) runTest(b *browser, secret secrets.LinkSecret) testPage {
	env.t.Helper()
	start := b.post(env.web.URL+"/setup/status/"+secret.Reveal()+"/test", nil)
	if start.Status != http.StatusOK {
		env.t.Fatalf("test start = %d:\n%s", start.Status, start.Body)
	}
	idpOrigin := strings.TrimSuffix(env.idp.srv.URL, "/")
	if csp := start.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+idpOrigin) {
		env.t.Errorf("test start CSP = %q, want the IdP in form-action", csp)
	}
	idpPage := env.sendToIdP(b, start)
	_, action, fields := formIn(env.t, idpPage.Body)
	return b.post(action, fields)
}

// statusErrorMaker makes the IdP answer every request with an error status.
type statusErrorMaker struct{}

func (statusErrorMaker) MakeAssertion(*saml.IdpAuthnRequest, *saml.Session) error {
	return &saml.StatusError{TopLevel: saml.StatusResponder, SecondLevel: saml.StatusRequestDenied, Message: "User is not assigned to this application"}
}

func TestConnectionTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		wrong  func(env *signinEnv) (string, []*x509.Certificate)
		maker  saml.AssertionMaker
		want   connectionTest
		reason string
	}{
		{name: "success shows NameID and attributes", want: connectionTest{OK: true, NameID: "ida@newco.test",
			NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}},
		{name: "wrong entity ID", want: connectionTest{Code: codeIssuer},
			wrong: func(env *signinEnv) (string, []*x509.Certificate) {
				return "https://wrong.example/idp", []*x509.Certificate{env.idp.cert}
			},
			reason: `issuer expected "https://wrong.example/idp", got "`},
		{name: "wrong certificate", want: connectionTest{Code: codeSignature},
			wrong: func(env *signinEnv) (string, []*x509.Certificate) {
				_, other := newKeyPair(env.t, "Old IdP certificate", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
				return env.idp.entityID(), []*x509.Certificate{other}
			},
			reason: "the signature did not verify with the certificate you gave"},
		{name: "IdP error status", maker: statusErrorMaker{}, want: connectionTest{Code: codeStatus},
			reason: `the IdP answered with status Responder (RequestDenied): "User is not assigned to this application"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{})
			entityID, certs := env.idp.entityID(), []*x509.Certificate{env.idp.cert}
			if tc.wrong != nil {
				entityID, certs = tc.wrong(env)
			}
			requestID, secret := env.setupRequest(entityID, certs)
			env.idp.trustSP(t, env, "newco", true)
			env.idp.setUser("ida@newco.test")
			env.idp.idp.AssertionMaker = tc.maker
			b := env.newBrowser()

			acs := env.runTest(b, secret)
			want := "/setup/status/" + secret.Reveal() + "#connection-test"
			if acs.Status != http.StatusSeeOther || acs.Location != want {
				t.Fatalf("ACS = %d %q, want 303 to the status page; logs:\n%s", acs.Status, acs.Location, env.logs)
			}
			got, err := env.srv.loadConnectionTest(t.Context(), requestID)
			if err != nil || got == nil {
				t.Fatalf("loadConnectionTest = %v, %v", got, err)
			}
			if !strings.HasPrefix(got.Reason, tc.reason) {
				t.Errorf("reason = %q, want it to start with %q", got.Reason, tc.reason)
			}
			if tc.want.OK && !hasAttribute(got.Attributes, "urn:oasis:names:tc:SAML:attribute:subject-id") && !hasAttribute(got.Attributes, "urn:oid:0.9.2342.19200300.100.1.3") {
				t.Errorf("attributes = %v, want the mail attribute", got.Attributes)
			}
			got.Reason, got.Attributes, got.At = "", nil, time.Time{}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("test result (-want +got):\n%s", diff)
			}
			checkNothingActivated(t, env, b)
		})
	}
}

func hasAttribute(attrs []samlAttribute, name string) bool {
	for _, a := range attrs {
		if a.Name == name && len(a.Values) > 0 {
			return true
		}
	}
	return false
}

// checkNothingActivated checks that a test sign-in left no session, no
// tenant and an unchanged request state behind.
func checkNothingActivated(t *testing.T, env *signinEnv, b *browser) {
	t.Helper()
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("a test sign-in started a session")
	}
	var tenantsNamedNewco, pending int
	var state string
	if err := env.db.Get(&tenantsNamedNewco, `SELECT count(*) FROM tenants WHERE slug = 'newco'`); err != nil {
		t.Fatal(err)
	}
	if err := env.db.Get(&state, `SELECT state FROM setup_requests WHERE reference = 'GH-NEWC-0001'`); err != nil {
		t.Fatal(err)
	}
	if err := env.db.Get(&pending, `SELECT count(*) FROM saml_requests WHERE setup_request_id IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if tenantsNamedNewco != 0 || state != "submitted" || pending != 0 {
		t.Errorf("after a test: %d tenants named newco, state %s, %d pending tests; want 0, submitted, 0", tenantsNamedNewco, state, pending)
	}
	if strings.Contains(env.logs.String(), "ida@newco.test") {
		t.Errorf("the log contains the NameID:\n%s", env.logs)
	}
}

func TestConnectionTestRefusals(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	requestID, secret := env.setupRequest(env.idp.entityID(), []*x509.Certificate{env.idp.cert})
	b := env.newBrowser()

	if resp := b.post(env.web.URL+"/setup/status/"+secrets.NewLinkSecret().Reveal()+"/test", nil); resp.Status != http.StatusNotFound {
		t.Errorf("unknown status link: %d, want 404", resp.Status)
	}
	for i := 0; i < maxOpenTests; i++ {
		if resp := b.post(env.web.URL+"/setup/status/"+secret.Reveal()+"/test", nil); resp.Status != http.StatusOK {
			t.Fatalf("test %d: %d, want 200", i+1, resp.Status)
		}
	}
	if resp := b.post(env.web.URL+"/setup/status/"+secret.Reveal()+"/test", nil); resp.Status != http.StatusTooManyRequests {
		t.Errorf("test %d: %d, want 429", maxOpenTests+1, resp.Status)
	}
	env.exec(`UPDATE setup_requests SET state = 'withdrawn' WHERE id = $1`, requestID)
	if resp := b.post(env.web.URL+"/setup/status/"+secret.Reveal()+"/test", nil); resp.Status != http.StatusConflict {
		t.Errorf("withdrawn request: %d, want 409", resp.Status)
	}
	env.exec(`UPDATE setup_requests SET state = 'submitted' WHERE id = $1`, requestID)
	env.exec(`UPDATE status_links SET expires_at = now() - interval '1 minute' WHERE request_id = $1`, requestID)
	if resp := b.post(env.web.URL+"/setup/status/"+secret.Reveal()+"/test", nil); resp.Status != http.StatusNotFound {
		t.Errorf("expired status link: %d, want 404", resp.Status)
	}
}
