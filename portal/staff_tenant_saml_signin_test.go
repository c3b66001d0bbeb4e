package portal

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// A replacement from the staff page takes effect at the next sign-in: the
// new IdP's signature is accepted and the dropped certificate's is not.
func TestSignInAfterSAMLReplacement(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	oldKey, oldCert := env.idp.key, env.idp.cert

	next := newTestIdP(t, "")
	next.trustSP(t, env, "acme", true)
	next.setUser("ada@acme.test")
	metadata, err := xml.Marshal(next.idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}

	staff := &staffEnv{t: t, db: env.db, web: env.web, srv: env.srv}
	c := staff.client()
	c.signIn("ada@gatehouse.example", staff.addStaff("ada@gatehouse.example", forms.RoleAdmin))
	preview := c.postMultipart("/staff/tenants/acme/saml", url.Values{}, "idp-metadata.xml", metadata)
	if preview.Status != http.StatusUnprocessableEntity {
		t.Fatalf("preview without a source: status %d, want 422", preview.Status)
	}
	preview = c.postMultipart("/staff/tenants/acme/saml", url.Values{"metadata_source": {"upload"}}, "idp-metadata.xml", metadata)
	if preview.Status != http.StatusOK {
		t.Fatalf("preview: status %d:\n%s", preview.Status, preview.Body)
	}
	if res := c.postMultipart("/staff/tenants/acme/saml", saveFormIn(t, preview.Body), "", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("save: status %d:\n%s", res.Status, res.Body)
	}

	env.idp = next
	if acs := env.signInSPInitiated(env.newBrowser(), "acme"); acs.Status != http.StatusSeeOther || acs.Location != "/account" {
		t.Errorf("sign-in through the new IdP: %d %q, want 303 /account:\n%s", acs.Status, acs.Location, acs.Body)
	}
	next.idp.Key, next.idp.Certificate = oldKey, oldCert
	if acs := env.signInSPInitiated(env.newBrowser(), "acme"); acs.Status != http.StatusForbidden {
		t.Errorf("sign-in signed with the dropped certificate: status %d, want 403", acs.Status)
	}
}
