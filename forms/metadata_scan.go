package forms

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// XML namespaces of SAML 2.0 metadata and of XML Signature.
const (
	nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig     = "http://www.w3.org/2000/09/xmldsig#"
	nsProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// expectedNamespace maps the local names of the elements gatehouse reads to the
// namespace they must be in.
var expectedNamespace = map[string]string{
	"EntitiesDescriptor":  nsMetadata,
	"EntityDescriptor":    nsMetadata,
	"IDPSSODescriptor":    nsMetadata,
	"SPSSODescriptor":     nsMetadata,
	"KeyDescriptor":       nsMetadata,
	"SingleSignOnService": nsMetadata,
	"NameIDFormat":        nsMetadata,
	"KeyInfo":             nsDSig,
	"X509Data":            nsDSig,
	"X509Certificate":     nsDSig,
}

// rootElement is the root of a well-formed document.
type rootElement struct {
	start xml.StartElement
}

// documentScan is the state of one pass over a document's tokens.
type documentScan struct {
	dec       *xml.Decoder
	root      *rootElement
	depth     int
	extDepth  int // depth of the md:Extensions being skipped, 0 outside
	nsProblem string
	fatal     string
}

// scanDocument reads every token of doc once, before anything is decoded into
// structs. It reports malformed XML with its line, declarations, content
// outside the root element and elements outside their expected namespace.
func scanDocument(doc metadataDocument, problems *problemList) (rootElement, bool) {
	s := &documentScan{dec: xml.NewDecoder(bytes.NewReader(doc.text))}
	s.dec.CharsetReader = doc.charsetReader

	for s.fatal == "" {
		tok, err := s.dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.fatal = describeDecodeError(err)
			break
		}
		s.visit(tok)
	}

	switch {
	case s.fatal != "":
		problems.errorf(fieldMetadata, "%s", s.fatal)
		return rootElement{}, false
	case s.root == nil:
		problems.errorf(fieldMetadata, "The metadata contains no XML element. "+
			"Download the SAML metadata XML from your IdP and upload that file.")
		return rootElement{}, false
	case s.nsProblem != "":
		problems.errorf(fieldMetadata, "%s", s.nsProblem)
		return rootElement{}, false
	}
	return *s.root, true
}

func (s *documentScan) visit(tok xml.Token) {
	switch t := tok.(type) {
	case xml.StartElement:
		s.visitStart(t)
	case xml.EndElement:
		if s.depth == s.extDepth {
			s.extDepth = 0
		}
		s.depth--
	case xml.CharData:
		if s.depth == 0 && len(bytes.TrimSpace(t)) > 0 {
			s.fatal = fmt.Sprintf("The metadata has text outside its root element (line %d). "+
				"Upload the XML file exactly as your IdP provides it.", s.line())
		}
	case xml.Directive:
		s.fatal = fmt.Sprintf("The metadata contains a <!%s> declaration (line %d), which SAML metadata never needs. "+
			"Download the metadata from your IdP again.", firstWord(string(t)), s.line())
	}
}

func (s *documentScan) visitStart(t xml.StartElement) {
	s.depth++

	if s.depth == 1 {
		if s.root != nil {
			s.fatal = fmt.Sprintf("The metadata has a second root element <%s> on line %d; an XML document has exactly one. "+
				"Upload the metadata of one IdP, exactly as your IdP provides it.", t.Name.Local, s.line())
			return
		}
		s.root = &rootElement{start: t.Copy()}
		if msg := checkRootElement(t, s.line()); msg != "" && s.nsProblem == "" {
			s.nsProblem = msg
		}
		return
	}

	if s.extDepth != 0 {
		return
	}
	if t.Name.Space == nsMetadata && t.Name.Local == "Extensions" {
		s.extDepth = s.depth
		return
	}
	if msg := checkElementNamespace(t, s.line()); msg != "" && s.nsProblem == "" {
		s.nsProblem = msg
	}
}

func (s *documentScan) line() int {
	line, _ := s.dec.InputPos()
	return line
}

// checkRootElement returns a message when the root is not an EntityDescriptor
// or EntitiesDescriptor in the SAML 2.0 metadata namespace.
func checkRootElement(t xml.StartElement, line int) string {
	name := t.Name
	switch name.Local {
	case "EntityDescriptor", "EntitiesDescriptor":
		if name.Space == nsMetadata {
			return ""
		}
		return namespaceMessage(t, line)
	case "Response", "Assertion", "AuthnRequest", "LogoutRequest":
		return fmt.Sprintf("This is a SAML %s message, not metadata. "+
			"Download the IdP metadata XML from your IdP's SAML app settings and upload that file.", name.Local)
	case "html", "HTML":
		return "This is a web page, not SAML metadata. " +
			"Your browser may have saved the page around the metadata: download the metadata XML file itself, " +
			"or enter its address in the metadata URL field."
	}
	return fmt.Sprintf("The metadata's root element is <%s>, but SAML metadata starts with "+
		"<EntityDescriptor> (or <EntitiesDescriptor>) in the namespace %s. "+
		"Download the SAML 2.0 IdP metadata from your IdP and upload that file.", qualifiedName(name), nsMetadata)
}

// checkElementNamespace returns a message when t is one of the elements
// gatehouse reads but sits outside the namespace SAML 2.0 metadata puts it in.
func checkElementNamespace(t xml.StartElement, line int) string {
	want, ok := expectedNamespace[t.Name.Local]
	if !ok || t.Name.Space == want {
		return ""
	}
	return namespaceMessage(t, line)
}

// namespaceMessage explains why element t, expected in a SAML metadata or XML
// Signature namespace, is in another one.
func namespaceMessage(t xml.StartElement, line int) string {
	want := expectedNamespace[t.Name.Local]
	fix := "Download the metadata from your IdP again; if the problem remains, ask your IdP vendor for SAML 2.0 metadata."

	switch {
	case t.Name.Space == "" && declaresPrefixFor(t, want) != "":
		return fmt.Sprintf("The element <%s> on line %d is in no XML namespace. The document declares the prefix %q "+
			"for %s but does not use it, so strict SAML software cannot read it. "+
			"Every metadata element must be in that namespace (for example <%s:%s>). %s",
			t.Name.Local, line, declaresPrefixFor(t, want), want, declaresPrefixFor(t, want), t.Name.Local, fix)
	case t.Name.Space == "":
		return fmt.Sprintf("The element <%s> on line %d is in no XML namespace, but SAML 2.0 metadata elements "+
			"must be in the namespace %s. %s", t.Name.Local, line, want, fix)
	case !strings.Contains(t.Name.Space, ":"):
		return fmt.Sprintf("The element <%s:%s> on line %d uses the prefix %q without declaring it "+
			"(xmlns:%s=\"%s\" is missing). %s", t.Name.Space, t.Name.Local, line, t.Name.Space, t.Name.Space, want, fix)
	}
	return fmt.Sprintf("The element <%s> on line %d is in the namespace %s, but SAML 2.0 metadata needs %s. %s",
		t.Name.Local, line, t.Name.Space, want, fix)
}

// declaresPrefixFor returns the prefix t declares for namespace ns, if any.
func declaresPrefixFor(t xml.StartElement, ns string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" && a.Value == ns {
			return a.Name.Local
		}
	}
	return ""
}

// describeDecodeError turns an error of the XML tokenizer into a message for
// the IT contact.
func describeDecodeError(err error) string {
	const fix = "Send us your IdP's metadata again without editing it, as an uploaded file, as pasted XML or by its URL."

	var charset *charsetError
	if errors.As(err, &charset) {
		return fmt.Sprintf("The metadata declares the character encoding %q, which gatehouse cannot read. "+
			"Change encoding=%q to encoding=\"UTF-8\" in its first line, then paste the XML again, "+
			"or save the file as UTF-8 and upload it again.",
			charset.label, charset.label)
	}

	var syntax *xml.SyntaxError
	if !errors.As(err, &syntax) {
		return "The metadata is not well-formed XML: " + strings.TrimPrefix(err.Error(), "xml: ") + ". " + fix
	}
	if syntax.Msg == "unexpected EOF" {
		return fmt.Sprintf("The metadata ends on line %d before all its elements are closed, so it is incomplete. "+
			"It may have been cut off while copying. Paste the whole XML again, or upload the file that your IdP "+
			"offers for download.", syntax.Line)
	}
	return fmt.Sprintf("The metadata is not well-formed XML: line %d: %s. %s", syntax.Line, syntax.Msg, fix)
}

func qualifiedName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Local + " xmlns=\"" + n.Space + "\""
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}
