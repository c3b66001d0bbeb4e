package portal

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// spCertificate returns the certificate that gatehouse's SP metadata
// publishes, which anyone can encrypt to.
func spCertificate(t *testing.T, env *signinEnv) *x509.Certificate {
	t.Helper()
	key, err := env.srv.spKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(key.Certificate())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// cbcEncrypter encrypts the way most IdPs do: the key with RSA-OAEP
// (SHA-1 digest), the assertion with AES-128-CBC.
func cbcEncrypter() xmlenc.RSA {
	enc := xmlenc.OAEP()
	enc.BlockCipher, enc.DigestMethod = xmlenc.AES128CBC, xmlenc.SHA1
	return enc
}

// encryptedResponse builds what an attacker can post without any key: the
// IdP's Response, unsigned, with its assertion replaced by plaintext
// encrypted to gatehouse's public certificate. edit may change the
// CipherValue bytes (the IV, then the ciphertext) before they are encoded.
func encryptedResponse(t *testing.T, env *signinEnv, enc xmlenc.Encrypter, plaintext []byte, edit func([]byte)) []byte {
	t.Helper()
	root := parseXML(t, env.idp.respond(t, env.srv.spEntityID("acme"), "", nil))
	for _, tag := range []string{"Signature", "Assertion", "EncryptedAssertion"} {
		if el := child(root, tag); el != nil {
			root.RemoveChild(el)
		}
	}

	data, err := enc.Encrypt(spCertificate(t, env), plaintext, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	if edit != nil {
		value := data.FindElement("./CipherData/CipherValue")
		raw, err := base64.StdEncoding.DecodeString(value.Text())
		if err != nil {
			t.Fatal(err)
		}
		edit(raw)
		value.SetText(base64.StdEncoding.EncodeToString(raw))
	}
	wrapper := root.CreateElement("saml:EncryptedAssertion")
	wrapper.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
	wrapper.AddChild(data)
	return writeXML(t, root)
}

// rejection is what a client learns from the ACS about a rejected post.
type rejection struct {
	Status int
	Code   string
}

func rejectionOf(p testPage) rejection {
	r := rejection{Status: p.Status}
	if m := failureCodePattern.FindStringSubmatch(p.Body); m != nil {
		r.Code = m[1]
	}
	return r
}

// TestACSEncryptedFailuresLookAlike checks that a client cannot tell why an
// encrypted assertion it made up was rejected: the page is the same for a
// wrong padding byte and for a plaintext that decrypts but does not parse.
// Staff still find the precise cause in the log.
func TestACSEncryptedFailuresLookAlike(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	gcm := xmlenc.OAEP()
	gcm.BlockCipher, gcm.DigestMethod = xmlenc.AES128GCM, xmlenc.SHA1
	cases := []struct {
		name      string
		enc       xmlenc.Encrypter
		plaintext string
		edit      func([]byte)
		wantLog   string
	}{
		{"text that is not XML", cbcEncrypter(), "ada@acme.test", nil, "the response is empty"},
		{"markup that does not parse", cbcEncrypter(), "<a><b></a>", nil, "not well-formed XML"},
		{"plaintext with a DOCTYPE", cbcEncrypter(), `<!DOCTYPE a><a/>`, nil, "DOCTYPE"},
		{"wrong CBC padding", cbcEncrypter(), "ada@acme.test", func(raw []byte) { raw[15] ^= 0x40 }, "invalid CBC padding"},
		{"wrong GCM tag", gcm, "<a/>", func(raw []byte) { raw[len(raw)-1] ^= 1 }, "AES-GCM"},
	}
	want := rejection{Status: http.StatusForbidden, Code: codeDecrypt}
	var firstBody string
	for _, tc := range cases {
		resp := env.postResponse(env.newBrowser(), "acme", encryptedResponse(t, env, tc.enc, []byte(tc.plaintext), tc.edit), "")
		if diff := cmp.Diff(want, rejectionOf(resp)); diff != "" {
			t.Errorf("%s: rejection (-want +got):\n%s", tc.name, diff)
		}
		if firstBody == "" {
			firstBody = resp.Body
		} else if resp.Body != firstBody {
			t.Errorf("%s: the page differs from the first case's:\n%s", tc.name, resp.Body)
		}
		if !strings.Contains(env.logs.String(), tc.wantLog) {
			t.Errorf("%s: the log does not give the cause (%q):\n%s", tc.name, tc.wantLog, env.logs)
		}
	}
}

// TestACSGivesNoPaddingOracle flips the last byte of the IV of an
// AES-CBC-encrypted assertion through all 256 values, as a padding oracle
// attack does, without a pending request or any key. Every post must get
// the same response. Otherwise the ACS reveals which values make a valid
// padding byte, and so the plaintext byte.
func TestACSGivesNoPaddingOracle(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	b := env.newBrowser()
	got := map[rejection]int{}
	for i := range 256 {
		flip := func(raw []byte) { raw[15] ^= byte(i) }
		resp := env.postResponse(b, "acme", encryptedResponse(t, env, cbcEncrypter(), []byte("ada@acme.test"), flip), "")
		got[rejectionOf(resp)]++
	}
	want := map[rejection]int{{Status: http.StatusForbidden, Code: codeDecrypt}: 256}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses to the 256 IV bytes (-want +got):\n%s", diff)
	}
}

// TestACSRejectsRSA15KeyTransport checks that an assertion whose key is
// encrypted with RSA PKCS#1 v1.5 is rejected before any RSA decryption,
// even when the IdP signed it. An ACS that decrypts such keys for anyone
// is a Bleichenbacher oracle for the SP's private key.
func TestACSRejectsRSA15KeyTransport(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	rsa15 := xmlenc.PKCS1v15()
	rsa15.BlockCipher = xmlenc.AES128CBC
	env.idp.idp.AssertionEncrypter = rsa15
	b := env.newBrowser()

	acs := env.signInSPInitiated(b, "acme")
	if diff := cmp.Diff(rejection{Status: http.StatusForbidden, Code: codeDecrypt}, rejectionOf(acs)); diff != "" {
		t.Errorf("ACS rejection (-want +got):\n%s", diff)
	}
	if status, me := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("/me = %d %v, want 401", status, me)
	}
	if !strings.Contains(env.logs.String(), "rsa-1_5") {
		t.Errorf("the log does not name the rejected algorithm:\n%s", env.logs)
	}

	garbage := encryptedResponse(t, env, rsa15, []byte("<a/>"), nil)
	garbage = []byte(strings.Replace(string(garbage), "<xenc:CipherValue>", "<xenc:CipherValue>AAAA", 1))
	if diff := cmp.Diff(rejectionOf(acs), rejectionOf(env.postResponse(b, "acme", garbage, ""))); diff != "" {
		t.Errorf("a made-up rsa-1_5 key got another response (-valid key +made-up key):\n%s", diff)
	}
}

// TestEncryptedResponseHelper checks that encryptedResponse builds what
// the ACS decrypts: the IdP's own signed assertion, encrypted with it,
// signs the user in.
func TestEncryptedResponseHelper(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	env.idp.trustSP(t, env, "acme", false)
	b := env.newBrowser()
	requestID := env.pendingRequestID(b, "acme")

	signed := parseXML(t, env.idp.respond(t, env.srv.spEntityID("acme"), requestID, nil))
	assertion := writeXML(t, child(signed, "Assertion"))
	raw := encryptedResponse(t, env, cbcEncrypter(), assertion, nil)
	root := parseXML(t, raw)
	root.CreateAttr("InResponseTo", requestID)
	resp := env.postResponse(b, "acme", writeXML(t, root), "")
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("ACS = %d %v, want 303; logs:\n%s", resp.Status, rejectionOf(resp), env.logs)
	}
	if status, me := env.me(b); status != http.StatusOK || me["userName"] != "ada@acme.test" {
		t.Errorf("/me = %d %v", status, me)
	}
}

// TestACSCountsAssertionsBeforeDecrypting posts a Response with two
// encrypted assertions whose keys are made up. Each decryption costs an
// RSA private-key operation, and a 1 MiB form holds hundreds of encrypted
// assertions, so a Response that is rejected for its number of assertions
// must be rejected for that before anything is decrypted.
func TestACSCountsAssertionsBeforeDecrypting(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	b := env.newBrowser()
	root := parseXML(t, encryptedResponse(t, env, cbcEncrypter(), []byte("<a/>"), nil))
	root.CreateAttr("InResponseTo", env.pendingRequestID(b, "acme"))
	root.AddChild(child(root, "EncryptedAssertion").Copy())
	raw := []byte(strings.ReplaceAll(string(writeXML(t, root)), "<xenc:CipherValue>", "<xenc:CipherValue>AAAA"))

	resp := env.postResponse(b, "acme", raw, "")
	if diff := cmp.Diff(rejection{Status: http.StatusForbidden, Code: codeAssertionCount}, rejectionOf(resp)); diff != "" {
		t.Errorf("rejection (-want +got):\n%s\nlogs:\n%s", diff, env.logs)
	}
}

// TestACSFoldsOnlyASCIICase checks that a NameID names a user only when it
// is their userName or email up to ASCII letter case. PostgreSQL's lower()
// also folds letters such as the Kelvin sign (U+212A) to k, so an IdP
// account named with one would otherwise sign in as another user.
func TestACSFoldsOnlyASCIICase(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "kate@acme.test", "kate@acme.test")
	env.addUser(env.tenant, "u-1042", "irene@acme.test")
	cases := []struct {
		nameID       string
		wantUserName string // "" when no user may be signed in
	}{
		{"Kate@ACME.test", "kate@acme.test"},
		{"IRENE@acme.test", "u-1042"},
		{"\u212Aate@acme.test", ""},
		{"\u0130rene@acme.test", ""},
	}
	for _, tc := range cases {
		env.idp.setUser(tc.nameID)
		b := env.newBrowser()
		acs := env.signInSPInitiated(b, "acme")
		status, me := env.me(b)
		switch {
		case tc.wantUserName == "" && status != http.StatusUnauthorized:
			t.Errorf("NameID %q signed in as %v", tc.nameID, me["userName"])
		case tc.wantUserName == "" && !strings.Contains(acs.Body, "We could not find your account"):
			t.Errorf("NameID %q: ACS = %d, want the unknown user page", tc.nameID, acs.Status)
		case tc.wantUserName != "" && me["userName"] != tc.wantUserName:
			t.Errorf("NameID %q: /me = %d %v, want %s", tc.nameID, status, me, tc.wantUserName)
		}
	}
}

// TestACSAcceptsWrappedBase64 checks that a SAMLResponse whose base64 is
// wrapped into lines, as some IdPs send it, is read.
func TestACSAcceptsWrappedBase64(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	b := env.newBrowser()
	encoded := base64.StdEncoding.EncodeToString(env.idp.respond(t, env.srv.spEntityID("acme"), env.pendingRequestID(b, "acme"), nil))
	var wrapped strings.Builder
	for len(encoded) > 76 {
		wrapped.WriteString(encoded[:76] + "\r\n")
		encoded = encoded[76:]
	}
	wrapped.WriteString(encoded + "\r\n")

	resp := b.post(env.srv.acsURL("acme"), url.Values{"SAMLResponse": {wrapped.String()}})
	if resp.Status != http.StatusSeeOther {
		t.Errorf("ACS = %d %v, want 303; logs:\n%s", resp.Status, rejectionOf(resp), env.logs)
	}
}

// TestACSRotatesSession checks that a sign-in at the ACS never keeps a
// session ID from before it: a cookie planted before sign-in stays signed
// out, and the cookie of an earlier sign-in ends with the next one.
func TestACSRotatesSession(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	site := mustURL(t, env.web.URL)
	withCookie := func(value string) *browser {
		b := env.newBrowser()
		b.client.Jar.SetCookies(site, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
		return b
	}
	cookieOf := func(b *browser) string {
		for _, c := range b.client.Jar.Cookies(site) {
			if c.Name == sessionCookie {
				return c.Value
			}
		}
		return ""
	}

	victim := withCookie("planted-by-an-attacker")
	if acs := env.signInSPInitiated(victim, "acme"); acs.Status != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", acs.Status)
	}
	first := cookieOf(victim)
	if first == "" || first == "planted-by-an-attacker" {
		t.Errorf("session cookie after sign-in = %q, want a new value", first)
	}
	if status, _ := env.me(withCookie("planted-by-an-attacker")); status != http.StatusUnauthorized {
		t.Errorf("/me with the planted cookie = %d, want 401", status)
	}

	env.signInSPInitiated(victim, "acme")
	if second := cookieOf(victim); second == first {
		t.Errorf("a second sign-in kept the session cookie")
	}
	if status, _ := env.me(withCookie(first)); status != http.StatusUnauthorized {
		t.Errorf("/me with the first sign-in's cookie = %d, want 401", status)
	}
	if status, _ := env.me(victim); status != http.StatusOK {
		t.Errorf("/me after the second sign-in = %d, want 200", status)
	}
}

// TestACSKeepsTenantsApart posts IdP-initiated Responses meant for one
// tenant, or signed by its IdP, to another tenant's ACS. Both tenants
// accept IdP-initiated sign-in, and Ada is a user of both.
func TestACSKeepsTenantsApart(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Settings: tenants.Settings{IdPInitiated: true}})
	globex := env.createTenant("globex", "Globex", tenants.Settings{IdPInitiated: true})
	globexIdP := newTestIdP(t, "")
	env.connect(globex, globexIdP, saml.HTTPRedirectBinding, []*x509.Certificate{globexIdP.cert})
	for _, idp := range []*testIdP{env.idp, globexIdP} {
		idp.trustSP(t, env, "acme", false)
		idp.trustSP(t, env, "globex", false)
	}
	for _, tenant := range []tenants.Tenant{env.tenant, globex} {
		env.addUser(tenant, "ada@acme.test", "ada@acme.test")
	}
	env.idp.setUser("ada@acme.test")
	globexIdP.setUser("ada@acme.test")

	cases := []struct {
		name     string
		response func() []byte
		wantCode string
	}{
		{"Acme's IdP, for Globex's audience and ACS", func() []byte {
			return env.idp.respond(t, env.srv.spEntityID("globex"), "", nil)
		}, codeSignature},
		{"Acme's IdP, naming Globex's IdP as issuer", func() []byte {
			return env.idp.respond(t, env.srv.spEntityID("globex"), "", func(a *saml.Assertion) {
				a.Issuer.Value = globexIdP.entityID()
			})
		}, codeSignature},
		{"Globex's IdP, for Acme's audience and ACS", func() []byte {
			return globexIdP.respond(t, env.srv.spEntityID("acme"), "", nil)
		}, codeDestination},
	}
	for _, tc := range cases {
		b := env.newBrowser()
		resp := env.postResponse(b, "globex", tc.response(), "")
		if diff := cmp.Diff(rejection{Status: http.StatusForbidden, Code: tc.wantCode}, rejectionOf(resp)); diff != "" {
			t.Errorf("%s: rejection (-want +got):\n%s", tc.name, diff)
		}
		if status, me := env.me(b); status != http.StatusUnauthorized {
			t.Errorf("%s: signed in as %v", tc.name, me)
		}
	}

	valid := env.idp.respond(t, env.srv.spEntityID("acme"), "", nil)
	if resp := env.postResponse(env.newBrowser(), "acme", valid, ""); resp.Status != http.StatusSeeOther {
		t.Fatalf("Acme's own Response at Acme: ACS = %d %v", resp.Status, rejectionOf(resp))
	}
	if got := rejectionOf(env.postResponse(env.newBrowser(), "globex", valid, "")); got.Status != http.StatusForbidden {
		t.Errorf("Acme's used Response replayed at Globex: %v, want 403", got)
	}
}
