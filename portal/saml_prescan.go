package portal

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// maxXMLTokens bounds the elements, attributes and text nodes of a
// Response. It is gosaml2's own default (50,000), checked here first:
// gosaml2 retries a document over its bound as DEFLATE data, and the
// prescan must see every byte that gosaml2 parses.
const maxXMLTokens = 50000

// maxXMLDepth bounds how deeply elements nest. A Response nests about ten
// levels deep; a much deeper document only makes each namespace lookup,
// which walks up to the root, cost more.
const maxXMLDepth = 64

// responseScan is what gatehouse reads from a Response before gosaml2
// verifies it. Nothing in it is trusted: it chooses the configuration to
// verify against, rejects what gosaml2 would let through, and explains
// failures. Identity is taken only from the verified result.
type responseScan struct {
	ResponseID   string
	InResponseTo string
	Issuer       string
	// StatusCode is the top-level status; SubStatusCode the second level.
	StatusCode    string
	SubStatusCode string
	StatusMessage string
	// Assertions counts Assertion and EncryptedAssertion elements anywhere,
	// including inside the encrypted assertion, which is decrypted only
	// when it is the only assertion.
	Assertions int
	// AuthnStatements counts AuthnStatement elements anywhere, including
	// inside a decrypted assertion.
	AuthnStatements int
	// Algorithms lists every SignatureMethod and Reference DigestMethod.
	Algorithms []string
	// SignatureWithoutKeyInfo is set when a signature names no certificate,
	// so the verifier has to try each trusted certificate in turn.
	SignatureWithoutKeyInfo bool
}

// scanResponse checks the raw XML of a Response and reads its envelope.
// It rejects a DOCTYPE before any parser sees the document, and decrypts
// an encrypted assertion with key, when it is the Response's only
// assertion, to check its content the same way.
func scanResponse(raw []byte, key tls.Certificate) (responseScan, error) {
	var scan responseScan
	root, err := parseUntrusted(raw)
	if err != nil {
		return scan, err
	}
	if root.NamespaceURI() != saml2.SAMLProtocolNamespace || root.Tag != saml2.ResponseTag {
		return scan, failure(codeMalformed, "the document is not a SAML 2.0 Response", nil)
	}
	scan.ResponseID = root.SelectAttrValue("ID", "")
	scan.InResponseTo = root.SelectAttrValue("InResponseTo", "")
	readEnvelope(root, &scan)
	readSignedContent(root, &scan, false)

	// Each decryption costs an RSA private-key operation, and a posted form
	// holds hundreds of encrypted assertions. A Response with more than one
	// assertion is rejected for that alone, so nothing in it is decrypted.
	if scan.Assertions != 1 {
		return scan, nil
	}
	var decrypted *etree.Element
	var walkErr error
	walkElements(root, func(el *etree.Element) {
		if el.NamespaceURI() == saml2.SAMLAssertionNamespace && el.Tag == saml2.EncryptedAssertionTag {
			decrypted, walkErr = decryptForScan(el, key)
		}
	})
	if walkErr != nil {
		return scan, walkErr
	}
	if decrypted != nil {
		readSignedContent(decrypted, &scan, true)
	}
	return scan, nil
}

// parseUntrusted parses an XML document from an IdP or a client after the
// checks that must come first: no DOCTYPE (so no entity is ever declared),
// a bounded number of tokens and a bounded nesting depth.
func parseUntrusted(raw []byte) (*etree.Element, error) {
	lower := bytes.ToLower(raw)
	if bytes.Contains(lower, []byte("<!doctype")) || bytes.Contains(lower, []byte("<!entity")) {
		return nil, failure(codeDoctype, "the response contains a DOCTYPE declaration, which SAML forbids", nil)
	}
	if bound := 3*bytes.Count(raw, []byte("<")) + 1; bound > maxXMLTokens {
		return nil, failure(codeTooLarge, fmt.Sprintf("the response has too many XML elements (more than %d tokens)", maxXMLTokens), nil)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, failure(codeMalformed, "the response is not well-formed XML", err)
	}
	if doc.Root() == nil {
		return nil, failure(codeMalformed, "the response is empty", nil)
	}
	if tooDeep(doc.Root(), maxXMLDepth) {
		return nil, failure(codeMalformed, fmt.Sprintf("the response nests elements more than %d levels deep", maxXMLDepth), nil)
	}
	return doc.Root(), nil
}

// tooDeep reports whether elements nest more than limit levels below el.
func tooDeep(el *etree.Element, limit int) bool {
	if limit == 0 {
		return true
	}
	for _, child := range el.ChildElements() {
		if tooDeep(child, limit-1) {
			return true
		}
	}
	return false
}

// readEnvelope reads the Response's own Issuer and Status.
func readEnvelope(root *etree.Element, scan *responseScan) {
	for _, child := range root.ChildElements() {
		switch {
		case child.Tag == saml2.IssuerTag && child.NamespaceURI() == saml2.SAMLAssertionNamespace:
			scan.Issuer = strings.TrimSpace(child.Text())
		case child.Tag == saml2.StatusTag && child.NamespaceURI() == saml2.SAMLProtocolNamespace:
			readStatus(child, scan)
		}
	}
}

func readStatus(status *etree.Element, scan *responseScan) {
	for _, child := range status.ChildElements() {
		if child.NamespaceURI() != saml2.SAMLProtocolNamespace {
			continue
		}
		switch child.Tag {
		case saml2.StatusCodeTag:
			scan.StatusCode = child.SelectAttrValue("Value", "")
			for _, sub := range child.ChildElements() {
				if sub.Tag == saml2.StatusCodeTag {
					scan.SubStatusCode = sub.SelectAttrValue("Value", "")
				}
			}
		case "StatusMessage":
			scan.StatusMessage = truncate(strings.TrimSpace(child.Text()), 300)
		}
	}
}

// authnStatementTag is the local name of saml:AuthnStatement, which
// gosaml2 v0.12.0 has no constant for.
const authnStatementTag = "AuthnStatement"

// readSignedContent counts assertions and AuthnStatements, and reads the signature algorithms
// and the subject confirmation's InResponseTo under el. A decrypted
// assertion was counted as its EncryptedAssertion already, so its own root
// is not counted again.
func readSignedContent(el *etree.Element, scan *responseScan, decrypted bool) {
	walkElements(el, func(e *etree.Element) {
		ns := e.NamespaceURI()
		switch {
		case ns == saml2.SAMLAssertionNamespace && (e.Tag == saml2.AssertionTag || e.Tag == saml2.EncryptedAssertionTag):
			if !(decrypted && e == el) {
				scan.Assertions++
			}
		case ns == saml2.SAMLAssertionNamespace && e.Tag == authnStatementTag:
			scan.AuthnStatements++
		case ns == saml2.SAMLAssertionNamespace && e.Tag == saml2.SubjectConfirmationDataTag:
			if scan.InResponseTo == "" {
				scan.InResponseTo = e.SelectAttrValue("InResponseTo", "")
			}
		case ns == dsig.Namespace && e.Tag == dsig.SignatureTag:
			if !hasX509Certificate(e) {
				scan.SignatureWithoutKeyInfo = true
			}
		case ns == dsig.Namespace && e.Tag == "SignatureMethod" && e.Parent() != nil && e.Parent().Tag == "SignedInfo",
			ns == dsig.Namespace && e.Tag == "DigestMethod" && e.Parent() != nil && e.Parent().Tag == "Reference":
			scan.Algorithms = append(scan.Algorithms, e.SelectAttrValue("Algorithm", ""))
		}
	})
}

func hasX509Certificate(signature *etree.Element) bool {
	found := false
	walkElements(signature, func(e *etree.Element) {
		if e.Tag == "X509Certificate" && e.NamespaceURI() == dsig.Namespace && strings.TrimSpace(e.Text()) != "" {
			found = true
		}
	})
	return found
}

// rsaPKCS1v15Transport is the XML Encryption URI of RSA PKCS#1 v1.5 key
// transport. gosaml2 v0.12.0 decrypts with it, but whether that decryption
// fails depends on the private key, so an ACS that lets anyone post
// EncryptedKeys under it is a Bleichenbacher oracle for gatehouse's key.
const rsaPKCS1v15Transport = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"

// decryptReason is the one reason given for every encrypted assertion that
// does not decrypt to a readable document. See decryptForScan.
const decryptReason = "the assertion could not be decrypted with gatehouse's key; " +
	"check that the IdP encrypts to the certificate in gatehouse's SP metadata"

// decryptForScan decrypts an EncryptedAssertion the way gosaml2 will and
// parses the plaintext with the same checks as the Response itself.
//
// Nothing has authenticated the ciphertext yet, and AES-CBC lets anyone
// change it block by block. So every failure from decryption onwards,
// whether a wrong padding byte or a plaintext that does not parse, gets
// the same code, reason and status, and only the log distinguishes them.
// A page that distinguished them would be a padding oracle, with which
// anyone could decrypt a captured assertion one byte at a time.
func decryptForScan(el *etree.Element, key tls.Certificate) (*etree.Element, error) {
	if usesAlgorithm(el, rsaPKCS1v15Transport) {
		return nil, failure(codeDecrypt, "the assertion's key is encrypted with RSA PKCS#1 v1.5 (rsa-1_5), which gatehouse rejects; "+
			"set the IdP to encrypt the key with RSA-OAEP", nil)
	}
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, failure(codeMalformed, "the encrypted assertion uses an undeclared namespace prefix", err)
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, failure(codeMalformed, "the encrypted assertion could not be read", err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(detached)
	encoded, err := doc.WriteToBytes()
	if err != nil {
		return nil, failure(codeMalformed, "the encrypted assertion could not be read", err)
	}
	var encrypted types.EncryptedAssertion
	if err := xml.Unmarshal(encoded, &encrypted); err != nil {
		return nil, failure(codeMalformed, "the encrypted assertion could not be read", err)
	}

	plain, err := encrypted.DecryptBytes(&key)
	if err != nil {
		return nil, failure(codeDecrypt, decryptReason, err)
	}
	root, err := parseUntrusted(plain)
	if err != nil {
		return nil, failure(codeDecrypt, decryptReason, err)
	}
	return root, nil
}

// usesAlgorithm reports whether an element at or below el has an
// Algorithm attribute equal to algorithm, whatever the element and the
// attribute's prefix: gosaml2 reads EncryptionMethod with encoding/xml,
// which matches names in any namespace.
func usesAlgorithm(el *etree.Element, algorithm string) bool {
	found := false
	walkElements(el, func(e *etree.Element) {
		for _, a := range e.Attr {
			if a.Key == "Algorithm" && strings.TrimSpace(a.Value) == algorithm {
				found = true
			}
		}
	})
	return found
}

// walkElements calls fn for el and every element below it, in document order.
func walkElements(el *etree.Element, fn func(*etree.Element)) {
	fn(el)
	for _, child := range el.ChildElements() {
		walkElements(child, fn)
	}
}

// usesSHA1 reports whether any signature or digest algorithm is SHA-1.
func (scan responseScan) usesSHA1() bool {
	for _, alg := range scan.Algorithms {
		if strings.HasSuffix(strings.ToLower(alg), "sha1") {
			return true
		}
	}
	return false
}

func truncate(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
