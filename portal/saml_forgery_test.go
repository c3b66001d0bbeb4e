package portal

import (
	"bytes"
	"compress/flate"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// forgery builds a Response for one attack or edge case. requestID is the
// pending AuthnRequest's ID, or "" for an IdP-initiated case.
type forgery struct {
	name         string
	settings     tenants.Settings
	extraCert    bool // the tenant also trusts a second certificate
	idpInitiated bool
	encrypt      bool
	relayState   string
	build        func(t *testing.T, env *signinEnv, requestID string) []byte
	// wantCode is the rejection code, or "" when the Response is accepted.
	wantCode string
	// wantUnknownUser is set when the Response verifies but names no user
	// of the tenant.
	wantUnknownUser bool
}

var failureCodePattern = regexp.MustCompile(`<code>([a-z0-9_]+)</code>`)

// valid builds the Response the IdP would send, after mutate.
func valid(mutate func(*saml.Assertion)) func(*testing.T, *signinEnv, string) []byte {
	return func(t *testing.T, env *signinEnv, requestID string) []byte {
		return env.idp.respond(t, env.srv.spEntityID("acme"), requestID, mutate)
	}
}

// edited builds the IdP's Response and edits its XML, re-signing the
// Response element when resign is set, as an attacker with a valid
// Response (and, for resign, a key the tenant does not trust) would.
func edited(resign bool, edit func(t *testing.T, env *signinEnv, root *etree.Element)) func(*testing.T, *signinEnv, string) []byte {
	return func(t *testing.T, env *signinEnv, requestID string) []byte {
		root := env.idp.respondElement(t, env.srv.spEntityID("acme"), requestID, nil)
		root = parseXML(t, writeXML(t, root))
		edit(t, env, root)
		if resign {
			root = resignResponse(t, env, root)
		}
		return writeXML(t, root)
	}
}

// resignResponse replaces the Response's own signature with a new one by
// the IdP's key.
func resignResponse(t *testing.T, env *signinEnv, root *etree.Element) *etree.Element {
	if sig := child(root, "Signature"); sig != nil {
		root.RemoveChild(sig)
	}
	return signEnveloped(t, root, env.idp.idp.Key.(*rsa.PrivateKey), env.idp.idp.Certificate, "")
}

// child returns el's first child element with this local name.
func child(el *etree.Element, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}

// descendant returns the first element below el with this local name.
func descendant(el *etree.Element, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
		if d := descendant(c, tag); d != nil {
			return d
		}
	}
	return nil
}

// withOtherKey signs with a key pair the tenant does not trust.
func withOtherKey(t *testing.T, env *signinEnv, build func() []byte) []byte {
	key, cert := newKeyPair(t, "Attacker", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	oldKey, oldCert := env.idp.idp.Key, env.idp.idp.Certificate
	env.idp.idp.Key, env.idp.idp.Certificate = key, cert
	defer func() { env.idp.idp.Key, env.idp.idp.Certificate = oldKey, oldCert }()
	return build()
}

// forgeries lists the cases. Times are read when a case builds its
// response, right before it posts it, so a loaded machine that starts a
// parallel case late does not push it outside the clock skew.
func forgeries() []forgery {
	otherSP := "https://other.example/saml/metadata"
	return []forgery{
		{name: "valid response accepted", build: valid(nil)},
		{name: "valid encrypted response accepted", encrypt: true, build: valid(nil)},
		{name: "unsigned response and assertion", wantCode: codeUnsigned, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			removeSignatures(root)
		})},
		{name: "signed by another key", wantCode: codeSignature, build: func(t *testing.T, env *signinEnv, id string) []byte {
			return withOtherKey(t, env, func() []byte { return valid(nil)(t, env, id) })
		}},
		{name: "other key without KeyInfo", wantCode: codeSignature, build: func(t *testing.T, env *signinEnv, id string) []byte {
			return withOtherKey(t, env, func() []byte { return withoutKeyInfo(t, env, id) })
		}},
		{name: "no KeyInfo with two trusted certificates", extraCert: true, build: withoutKeyInfo},
		{name: "wrapping: unsigned assertion before the signed one", wantCode: codeAssertionCount, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.RemoveChild(child(root, "Signature"))
			signed := child(root, "Assertion")
			evil := signed.Copy()
			evil.RemoveChild(child(evil, "Signature"))
			descendant(evil, "NameID").SetText("admin@acme.test")
			root.InsertChildAt(signed.Index(), evil)
		})},
		{name: "wrapping: signed assertion hidden in Extensions", wantCode: codeAssertionCount, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			signed := child(root, "Assertion")
			evil := signed.Copy()
			evil.RemoveChild(child(evil, "Signature"))
			descendant(evil, "NameID").SetText("admin@acme.test")
			root.RemoveChild(signed)
			ext := root.CreateElement("samlp:Extensions")
			ext.AddChild(signed)
			root.AddChild(evil)
		})},
		{name: "wrapping: NameID edited inside signed assertion", wantCode: codeSignature, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			descendant(child(root, "Assertion"), "NameID").SetText("admin@acme.test")
		})},
		{name: "wrapping: assertion ID changed under its signature", wantCode: codeUnsigned, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.RemoveChild(child(root, "Signature"))
			child(root, "Assertion").CreateAttr("ID", "id-evil")
		})},
		{name: "comment injected into NameID", wantUnknownUser: true, build: func(t *testing.T, env *signinEnv, id string) []byte {
			env.idp.setUser("ada@acme.test.evil.example")
			raw := valid(nil)(t, env, id)
			return bytes.Replace(raw, []byte(">ada@acme.test.evil.example<"), []byte(">ada@acme.test<!---->.evil.example<"), 1)
		}},
		{name: "expired assertion", wantCode: codeExpired, build: valid(func(a *saml.Assertion) {
			a.Conditions.NotBefore, a.Conditions.NotOnOrAfter = time.Now().Add(-20*time.Minute), time.Now().Add(-10*time.Minute)
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-10 * time.Minute)
		})},
		{name: "assertion not yet valid", wantCode: codeNotYetValid, build: valid(func(a *saml.Assertion) {
			a.Conditions.NotBefore, a.Conditions.NotOnOrAfter = time.Now().Add(10*time.Minute), time.Now().Add(20*time.Minute)
		})},
		{name: "NotBefore within clock skew", build: valid(func(a *saml.Assertion) {
			a.Conditions.NotBefore = time.Now().Add(2 * time.Minute)
		})},
		{name: "expiry within clock skew", build: valid(func(a *saml.Assertion) {
			a.Conditions.NotOnOrAfter = time.Now().Add(-2 * time.Minute)
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-2 * time.Minute)
		})},
		{name: "IdP session already ended", wantCode: codeSessionEnded, build: valid(func(a *saml.Assertion) {
			ended := time.Now().Add(-time.Second)
			a.AuthnStatements[0].SessionNotOnOrAfter = &ended
		})},
		{name: "second AuthnStatement", wantCode: codeMalformed, build: valid(func(a *saml.Assertion) {
			later := time.Now().Add(time.Hour)
			second := a.AuthnStatements[0]
			second.SessionNotOnOrAfter = &later
			a.AuthnStatements = append(a.AuthnStatements, second)
		})},
		{name: "wrong audience", wantCode: codeAudience, build: valid(func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions[0].Audience.Value = otherSP
		})},
		{name: "wrong audience, encrypted", encrypt: true, wantCode: codeAudience, build: valid(func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions[0].Audience.Value = otherSP
		})},
		{name: "no audience restriction", wantCode: codeAudience, build: valid(func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions = nil
		})},
		{name: "second audience restriction for another SP", wantCode: codeAudience, build: valid(func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions = append(a.Conditions.AudienceRestrictions,
				saml.AudienceRestriction{Audience: saml.Audience{Value: otherSP}})
		})},
		{name: "wrong recipient", wantCode: codeRecipient, build: valid(func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other.example/acs"
		})},
		{name: "wrong destination", wantCode: codeDestination, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.CreateAttr("Destination", "https://other.example/acs")
		})},
		{name: "wrong issuer", wantCode: codeIssuer, build: valid(func(a *saml.Assertion) {
			a.Issuer.Value = "https://evil.example/idp"
		})},
		{name: "no NameID", wantCode: codeSubject, build: valid(func(a *saml.Assertion) {
			a.Subject.NameID = nil
		})},
		{name: "unknown InResponseTo", wantCode: codeInResponseTo, build: func(t *testing.T, env *signinEnv, _ string) []byte {
			return valid(nil)(t, env, "_not-a-request-gatehouse-sent")
		}},
		{name: "assertion answers another request", wantCode: codeInResponseTo, build: valid(func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "_another-request"
		})},
		{name: "unsigned InResponseTo only on response", wantCode: codeInResponseTo, build: func(t *testing.T, env *signinEnv, id string) []byte {
			root := env.idp.respondElement(t, env.srv.spEntityID("acme"), id, func(a *saml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = ""
			})
			root = parseXML(t, writeXML(t, root))
			root.RemoveChild(child(root, "Signature"))
			return writeXML(t, root)
		}},
		{name: "IdP-initiated when the tenant forbids it", idpInitiated: true, wantCode: codeUnsolicited, build: valid(nil)},
		{name: "IdP-initiated with off-site RelayState", idpInitiated: true, settings: tenants.Settings{IdPInitiated: true},
			relayState: "https://evil.example/", build: valid(nil)},
		{name: "DOCTYPE", wantCode: codeDoctype, build: func(t *testing.T, env *signinEnv, id string) []byte {
			return append([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "ada@acme.test">]>`), valid(nil)(t, env, id)...)
		}},
		{name: "two signed assertions", wantCode: codeAssertionCount, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.AddChild(child(root, "Assertion").Copy())
		})},
		{name: "SHA-1 signature", wantCode: codeSHA1, build: func(t *testing.T, env *signinEnv, id string) []byte {
			env.idp.idp.SignatureMethod = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
			return valid(nil)(t, env, id)
		}},
		{name: "SHA-1 signature when the tenant allows it", settings: tenants.Settings{AllowSHA1: true}, build: func(t *testing.T, env *signinEnv, id string) []byte {
			env.idp.idp.SignatureMethod = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
			return valid(nil)(t, env, id)
		}},
		{name: "IdP status AuthnFailed", wantCode: codeStatus, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			setFailedStatus(root)
		})},
		{name: "IdP status Requester with a valid assertion", wantCode: codeStatus, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			descendant(root, "StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Requester")
		})},
		{name: "wrapping: signed assertion in the Advice of an unsigned one", wantCode: codeAssertionCount, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.RemoveChild(child(root, "Signature"))
			signed := child(root, "Assertion")
			evil := signed.Copy()
			evil.RemoveChild(child(evil, "Signature"))
			descendant(evil, "NameID").SetText("admin@acme.test")
			evil.CreateElement("saml:Advice").AddChild(signed.Copy())
			root.InsertChildAt(signed.Index(), evil)
			root.RemoveChild(signed)
		})},
		{name: "wrapping: signed assertion in the response signature's Object", wantCode: codeAssertionCount, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			signed := child(root, "Assertion")
			evil := signed.Copy()
			evil.RemoveChild(child(evil, "Signature"))
			descendant(evil, "NameID").SetText("admin@acme.test")
			root.RemoveChild(signed)
			child(root, "Signature").CreateElement("ds:Object").AddChild(signed)
			root.AddChild(evil)
		})},
		{name: "wrapping: encrypted assertion next to a plain one", wantCode: codeAssertionCount, build: func(t *testing.T, env *signinEnv, id string) []byte {
			root := parseXML(t, valid(nil)(t, env, id))
			root.RemoveChild(child(root, "Signature"))
			plain := writeXML(t, child(root, "Assertion").Copy())
			encrypted := parseXML(t, encryptedResponse(t, env, cbcEncrypter(), plain, nil))
			root.AddChild(child(encrypted, "EncryptedAssertion"))
			return writeXML(t, root)
		}},
		{name: "wrapping: unsigned response takes the signed assertion's ID", wantCode: codeSignature, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.RemoveChild(child(root, "Signature"))
			root.CreateAttr("ID", child(root, "Assertion").SelectAttrValue("ID", ""))
		})},
		{name: "wrapping: copy of the response signature inside the assertion", wantCode: codeSignature, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			descendant(child(root, "Assertion"), "Subject").AddChild(child(root, "Signature").Copy())
		})},
		// goxmldsig finds a signature anywhere below the element it signs
		// and digests that element without it, which is the IdP's content.
		{name: "response signature moved into the assertion", build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			responseSignature := child(root, "Signature")
			root.RemoveChild(responseSignature)
			descendant(child(root, "Assertion"), "Subject").AddChild(responseSignature)
		})},
		{name: "destination with a trailing slash", wantCode: codeDestination, build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			root.CreateAttr("Destination", env.srv.acsURL("acme")+"/")
		})},
		{name: "recipient with a query string", wantCode: codeRecipient, build: func(t *testing.T, env *signinEnv, id string) []byte {
			return valid(func(a *saml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = env.srv.acsURL("acme") + "?tenant=acme"
			})(t, env, id)
		}},
		{name: "recipient with the scheme in upper case", wantCode: codeRecipient, build: func(t *testing.T, env *signinEnv, id string) []byte {
			return valid(func(a *saml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = strings.Replace(env.srv.acsURL("acme"), "http://", "HTTP://", 1)
			})(t, env, id)
		}},
		{name: "no Conditions", wantCode: codeExpired, build: valid(func(a *saml.Assertion) {
			a.Conditions = nil
		})},
		{name: "subject confirmation without NotOnOrAfter", wantCode: codeMalformed, build: valid(func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Time{}
		})},
		{name: "our audience among several in one restriction", build: edited(true, func(t *testing.T, env *signinEnv, root *etree.Element) {
			assertion := child(root, "Assertion")
			assertion.RemoveChild(child(assertion, "Signature"))
			descendant(assertion, "AudienceRestriction").CreateElement("saml:Audience").SetText(otherSP)
		})},
		{name: "SHA-1 digest under a SHA-256 signature method", wantCode: codeSHA1, build: edited(false, func(t *testing.T, env *signinEnv, root *etree.Element) {
			descendant(child(root, "Assertion"), "DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
		})},
	}
}

// setFailedStatus turns a Response into the IdP's refusal: status
// Responder/AuthnFailed with a message and no assertion.
func setFailedStatus(root *etree.Element) {
	root.RemoveChild(child(root, "Assertion"))
	code := descendant(root, "StatusCode")
	code.CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
	code.CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
	child(root, "Status").CreateElement("samlp:StatusMessage").SetText("User is not assigned to this application")
}

// withoutKeyInfo builds the IdP's Response with signatures that carry no
// KeyInfo, as IdPs that rely on the SP knowing their certificate send.
// KeyInfo is outside what a signature covers, but the Response signature
// covers the assertion's, so the Response is signed again after the
// assertion's KeyInfo is gone.
func withoutKeyInfo(t *testing.T, env *signinEnv, requestID string) []byte {
	root := parseXML(t, writeXML(t, env.idp.respondElement(t, env.srv.spEntityID("acme"), requestID, nil)))
	stripKeyInfo(root)
	root = resignResponse(t, env, root)
	stripKeyInfo(root)
	return writeXML(t, root)
}

// stripKeyInfo removes the KeyInfo of every signature under root.
func stripKeyInfo(root *etree.Element) {
	var strip func(*etree.Element)
	strip = func(el *etree.Element) {
		for _, c := range el.ChildElements() {
			if c.Tag == "KeyInfo" && el.Tag == "Signature" {
				el.RemoveChild(c)
				continue
			}
			strip(c)
		}
	}
	strip(root)
}

func TestACSRejectsForgedResponses(t *testing.T) {
	t.Parallel()
	for _, tc := range forgeries() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := envOptions{Settings: tc.settings}
			if tc.extraCert {
				_, extra := newKeyPair(t, "Second IdP certificate", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
				opts.ExtraCerts = []*x509.Certificate{extra}
			}
			env := newSigninEnv(t, opts)
			env.idp.trustSP(t, env, "acme", tc.encrypt)
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			b := env.newBrowser()

			requestID := ""
			if !tc.idpInitiated {
				requestID = env.pendingRequestID(b, "acme")
			}
			resp := env.postResponse(b, "acme", tc.build(t, env, requestID), tc.relayState)
			checkOutcome(t, env, b, tc, resp)
		})
	}
}

func checkOutcome(t *testing.T, env *signinEnv, b *browser, tc forgery, resp testPage) {
	t.Helper()
	status, me := env.me(b)
	switch {
	case tc.wantUnknownUser:
		if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "We could not find your account") {
			t.Errorf("ACS = %d, want 403 for an unknown user:\n%s\nlogs:\n%s", resp.Status, resp.Body, env.logs)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("signed in as %v", me)
		}
	case tc.wantCode == "":
		if resp.Status != http.StatusSeeOther || resp.Location != "/account" {
			t.Errorf("ACS = %d %q, want 303 /account; body:\n%s\nlogs:\n%s", resp.Status, resp.Location, resp.Body, env.logs)
		}
		if status != http.StatusOK || me["userName"] != "ada@acme.test" {
			t.Errorf("/me = %d %v, want ada@acme.test", status, me)
		}
	default:
		m := failureCodePattern.FindStringSubmatch(resp.Body)
		if m == nil || m[1] != tc.wantCode {
			t.Errorf("ACS = %d with code %v, want code %s; logs:\n%s", resp.Status, m, tc.wantCode, env.logs)
		}
		if resp.Status != http.StatusForbidden && resp.Status != http.StatusBadRequest {
			t.Errorf("ACS status = %d, want 403 or 400", resp.Status)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("a rejected Response signed someone in: %v", me)
		}
	}
	if strings.Contains(env.logs.String(), "ada@acme.test") {
		t.Errorf("the log contains a NameID:\n%s", env.logs)
	}
}

func TestACSRejectsReplays(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		idpInitiated bool
		wantCode     string
	}{
		{"IdP-initiated response posted twice", true, codeReplay},
		{"SP-initiated response posted twice", false, codeInResponseTo},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{Settings: tenants.Settings{IdPInitiated: true}})
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			requestID := ""
			if !tc.idpInitiated {
				requestID = env.pendingRequestID(env.newBrowser(), "acme")
			}
			raw := env.idp.respond(t, env.srv.spEntityID("acme"), requestID, nil)

			if first := env.postResponse(env.newBrowser(), "acme", raw, ""); first.Status != http.StatusSeeOther {
				t.Fatalf("first post = %d, want 303", first.Status)
			}
			second := env.postResponse(env.newBrowser(), "acme", raw, "")
			if m := failureCodePattern.FindStringSubmatch(second.Body); second.Status != http.StatusForbidden || m == nil || m[1] != tc.wantCode {
				t.Errorf("second post = %d %v, want 403 %s", second.Status, m, tc.wantCode)
			}
		})
	}
}

func TestACSRejectsOtherTenantsRequest(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	globex := env.createTenant("globex", "Globex", tenants.Settings{})
	env.connect(globex, env.idp, saml.HTTPRedirectBinding, []*x509.Certificate{env.idp.cert})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	b := env.newBrowser()

	globexRequest := env.pendingRequestID(b, "globex")
	raw := env.idp.respond(t, env.srv.spEntityID("acme"), globexRequest, nil)
	resp := env.postResponse(b, "acme", raw, "")
	if m := failureCodePattern.FindStringSubmatch(resp.Body); m == nil || m[1] != codeInResponseTo {
		t.Errorf("ACS = %d %v, want %s", resp.Status, m, codeInResponseTo)
	}
}

func TestACSFormLimits(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	b := env.newBrowser()
	// validResponse contains "+" and "/" once base64-encoded, so the
	// URL-safe alphabet differs from the standard one.
	var validResponse []byte
	for !strings.ContainsAny(b64(string(validResponse)), "+/") {
		validResponse = env.idp.respond(t, env.srv.spEntityID("acme"), "", nil)
	}
	cases := []struct {
		name     string
		form     url.Values
		wantCode string
	}{
		{"oversized form", url.Values{"SAMLResponse": {strings.Repeat("A", maxACSBody)}}, codeTooLarge},
		{"not base64", url.Values{"SAMLResponse": {"%%% not base64 %%%"}}, codeMalformed},
		{"no SAMLResponse", url.Values{"RelayState": {"/account"}}, codeMalformed},
		{"two SAMLResponse fields", url.Values{"SAMLResponse": {"PA==", "PA=="}}, codeMalformed},
		{"overlong RelayState", url.Values{"SAMLResponse": {"PA=="}, "RelayState": {"/" + strings.Repeat("a", maxRelayState)}}, codeMalformed},
		{"not XML", url.Values{"SAMLResponse": {"aGVsbG8gd29ybGQ="}}, codeMalformed},
		{"too many elements", url.Values{"SAMLResponse": {b64(strings.Repeat("<a/>", maxXMLTokens/3+1))}}, codeTooLarge},
		{"nested too deeply", url.Values{"SAMLResponse": {b64(strings.Repeat("<a>", maxXMLDepth+1) + strings.Repeat("</a>", maxXMLDepth+1))}}, codeMalformed},
		{"deflated response", url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(deflate(t, validResponse))}}, codeMalformed},
		{"URL-safe base64", url.Values{"SAMLResponse": {base64.URLEncoding.EncodeToString(validResponse)}}, codeMalformed},
	}
	for _, tc := range cases {
		resp := b.post(env.srv.acsURL("acme"), tc.form)
		m := failureCodePattern.FindStringSubmatch(resp.Body)
		if resp.Status != http.StatusBadRequest || m == nil || m[1] != tc.wantCode {
			t.Errorf("%s: ACS = %d %v, want 400 %s", tc.name, resp.Status, m, tc.wantCode)
		}
	}
}

func TestACSEncryptedToAnotherKey(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	sp := env.idp.trustSP(t, env, "acme", true)
	_, stranger := newKeyPair(t, "Someone else's SP", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for i, kd := range sp.SPSSODescriptors[0].KeyDescriptors {
		if kd.Use == "encryption" {
			sp.SPSSODescriptors[0].KeyDescriptors[i].KeyInfo.X509Data.X509Certificates[0].Data = b64(string(stranger.Raw))
		}
	}
	b := env.newBrowser()
	resp := env.postResponse(b, "acme", env.idp.respond(t, sp.EntityID, env.pendingRequestID(b, "acme"), nil), "")
	if m := failureCodePattern.FindStringSubmatch(resp.Body); m == nil || m[1] != codeDecrypt {
		t.Errorf("ACS = %d %v, want %s", resp.Status, m, codeDecrypt)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// deflate compresses raw as the HTTP-Redirect binding does.
func deflate(t *testing.T, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
