package portal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"text/template"
	"time"

	"github.com/crewjam/saml"
)

// responseShape is an IdP's way of building and signing a Response, from
// a template in testdata/saml.
type responseShape struct {
	name          string
	dir           string
	issuer        string
	binding       string
	signResponse  bool
	signAssertion bool
}

// shapeValues fill a Response template.
type shapeValues struct {
	ResponseID, AssertionID, InResponseTo string
	IssueInstant, NotBefore, NotOnOrAfter string
	Issuer, Audience, ACS, NameID         string
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "id" + hex.EncodeToString(b)
}

// render fills the shape's template and signs it the way the IdP does.
func (shape responseShape) render(t *testing.T, env *signinEnv, requestID, nameID string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "saml", shape.dir, "response.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New(shape.dir).Parse(string(raw)))
	now := time.Now().UTC()
	var filled bytes.Buffer
	err = tmpl.Execute(&filled, shapeValues{
		ResponseID: randomID(), AssertionID: randomID(), InResponseTo: requestID,
		IssueInstant: now.Format("2006-01-02T15:04:05.000Z"),
		NotBefore:    now.Add(-5 * time.Minute).Format("2006-01-02T15:04:05.000Z"),
		NotOnOrAfter: now.Add(time.Hour).Format("2006-01-02T15:04:05.000Z"),
		Issuer:       shape.issuer, Audience: env.srv.spEntityID("acme"), ACS: env.srv.acsURL("acme"), NameID: nameID,
	})
	if err != nil {
		t.Fatal(err)
	}

	root := parseXML(t, filled.Bytes())
	if shape.signAssertion {
		assertion := child(root, "Assertion")
		at := assertion.Index()
		root.RemoveChild(assertion)
		root.InsertChildAt(at, signEnveloped(t, assertion, env.idp.key, env.idp.cert, ""))
		root = parseXML(t, writeXML(t, root))
	}
	if shape.signResponse {
		root = signEnveloped(t, root, env.idp.key, env.idp.cert, "")
	}
	return writeXML(t, root)
}

func TestIdPResponseShapes(t *testing.T) {
	t.Parallel()
	shapes := []responseShape{
		{name: "Entra ID: signed assertion, unsigned response", dir: "entra",
			issuer: "https://sts.windows.net/3f1c2a4e-9b7d-4e55-8a61-0c2d9e7b4a10/", binding: saml.HTTPRedirectBinding, signAssertion: true},
		{name: "AD FS: signed response only", dir: "adfs",
			issuer: "http://adfs.acme.test/adfs/services/trust", binding: saml.HTTPRedirectBinding, signResponse: true},
		{name: "JumpCloud: POST binding, both signed", dir: "jumpcloud",
			issuer: "IdP Entity ID", binding: saml.HTTPPostBinding, signResponse: true, signAssertion: true},
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{Binding: shape.binding})
			env.exec(`UPDATE saml_connections SET idp_entity_id = $2 WHERE tenant_id = $1`, env.tenant.ID, shape.issuer)
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			b := env.newBrowser()

			requestID := env.pendingRequestID(b, "acme")
			resp := env.postResponse(b, "acme", shape.render(t, env, requestID, "ada@acme.test"), "")
			if resp.Status != http.StatusSeeOther || resp.Location != "/account" {
				t.Fatalf("ACS = %d %q, want 303 /account; body:\n%s\nlogs:\n%s", resp.Status, resp.Location, resp.Body, env.logs)
			}
			if status, me := env.me(b); status != http.StatusOK || me["userName"] != "ada@acme.test" {
				t.Errorf("/me = %d %v", status, me)
			}

			tampered := bytes.Replace(shape.render(t, env, env.pendingRequestID(b, "acme"), "ada@acme.test"),
				[]byte("ada@acme.test</"), []byte("eve@acme.test</"), 1)
			if resp := env.postResponse(env.newBrowser(), "acme", tampered, ""); resp.Status != http.StatusForbidden {
				t.Errorf("tampered %s response: ACS = %d, want 403", shape.dir, resp.Status)
			}
		})
	}
}

// TestShapeSignedByUntrustedKey checks that a shape's signature is what
// makes it pass: the same Response signed by a key the tenant does not
// trust is rejected.
func TestShapeSignedByUntrustedKey(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	shape := responseShape{dir: "entra", issuer: "https://sts.windows.net/x/", signAssertion: true}
	env.exec(`UPDATE saml_connections SET idp_entity_id = $2 WHERE tenant_id = $1`, env.tenant.ID, shape.issuer)
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.key, env.idp.cert = newKeyPair(t, "Attacker", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	b := env.newBrowser()

	resp := env.postResponse(b, "acme", shape.render(t, env, env.pendingRequestID(b, "acme"), "ada@acme.test"), "")
	if m := failureCodePattern.FindStringSubmatch(resp.Body); m == nil || m[1] != codeSignature {
		t.Errorf("ACS = %d %v, want %s", resp.Status, m, codeSignature)
	}
}
