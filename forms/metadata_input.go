package forms

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// metadataDocument is input text ready for the XML decoder.
type metadataDocument struct {
	text []byte
	// fromUTF16 is set when text was converted from UTF-16, so an
	// encoding="UTF-16" declaration no longer describes the bytes.
	fromUTF16 bool
}

var (
	utf8BOM    = []byte{0xEF, 0xBB, 0xBF}
	utf16LEBOM = []byte{0xFF, 0xFE}
	utf16BEBOM = []byte{0xFE, 0xFF}
)

// prepareInput checks the raw bytes before any XML parsing: size, emptiness,
// byte order marks and UTF-16, DOCTYPE, and the common cases of something
// other than XML (a certificate, a URL) entered where metadata belongs.
func prepareInput(raw []byte, problems *problemList) (metadataDocument, bool) {
	if len(raw) > MaxMetadataBytes {
		problems.errorf(fieldMetadata, "The metadata is %s, larger than the %s gatehouse accepts. "+
			"Upload the metadata of your IdP's SAML app only, not a federation aggregate.",
			formatSize(len(raw)), formatSize(MaxMetadataBytes))
		return metadataDocument{}, false
	}

	doc, err := decodeUnicode(raw)
	if err != nil {
		problems.errorf(fieldMetadata, "The metadata starts with a UTF-16 byte order mark but is not valid UTF-16. "+
			"Save the file as UTF-8 and upload it again.")
		return metadataDocument{}, false
	}

	trimmed := bytes.TrimSpace(doc.text)
	if len(trimmed) == 0 {
		problems.errorf(fieldMetadata, "The metadata is empty. Upload your IdP's SAML metadata XML file or paste its contents.")
		return metadataDocument{}, false
	}

	// Rejecting every DOCTYPE before parsing rules out entity expansion and
	// external entities whatever the XML parser would do with them.
	if containsFold(doc.text, "<!DOCTYPE") {
		problems.errorf(fieldMetadata, "The metadata contains a DOCTYPE declaration, which gatehouse does not accept "+
			"because it can define entities that expand when parsed. SAML metadata never needs one: "+
			"download the metadata from your IdP again, or remove the <!DOCTYPE ...> part.")
		return metadataDocument{}, false
	}

	if !checkLooksLikeXML(trimmed, problems) {
		return metadataDocument{}, false
	}
	return doc, true
}

// decodeUnicode strips a UTF-8 byte order mark and converts UTF-16 (as saved
// by Windows editors under the name "Unicode") to UTF-8.
func decodeUnicode(raw []byte) (metadataDocument, error) {
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(raw, utf8BOM):
		return metadataDocument{text: raw[len(utf8BOM):]}, nil
	case bytes.HasPrefix(raw, utf16LEBOM):
		enc = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(raw, utf16BEBOM):
		enc = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	case len(raw) >= 2 && raw[0] == '<' && raw[1] == 0:
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case len(raw) >= 2 && raw[0] == 0 && raw[1] == '<':
		enc = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	default:
		return metadataDocument{text: raw}, nil
	}

	text, _, err := transform.Bytes(enc.NewDecoder(), raw)
	if err != nil {
		return metadataDocument{}, fmt.Errorf("decode utf-16: %w", err)
	}
	return metadataDocument{text: text, fromUTF16: true}, nil
}

// checkLooksLikeXML reports a specific problem for input that is not XML at
// all, and returns false then.
func checkLooksLikeXML(trimmed []byte, problems *problemList) bool {
	if trimmed[0] == '<' {
		return true
	}

	if label := privateKeyLabel(string(trimmed)); label != "" {
		problems.errorf(fieldMetadata, "This is a private key (-----BEGIN %s-----), not SAML metadata. "+
			"Never send a private key: delete it here and tell your security team it was exposed. "+
			"Upload your IdP's metadata XML instead.", label)
		return false
	}
	if block, _ := pem.Decode(trimmed); block != nil {
		reportPEMInsteadOfMetadata(block.Type, problems)
		return false
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		problems.errorf(fieldMetadata, "This is a PEM text block, not SAML metadata, and it is incomplete. "+
			"Upload your IdP's metadata XML here, or paste a certificate into the signing certificate field.")
		return false
	}

	lower := strings.ToLower(string(firstLine(trimmed)))
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		problems.errorf(fieldMetadata, "This is a URL, not the metadata document. "+
			"Enter it in the metadata URL field instead, or open it, save the XML and upload the file.")
		return false
	}

	if isBareCertificate(trimmed) {
		problems.errorf(fieldMetadata, "This is a base64-encoded X.509 certificate, not SAML metadata. "+
			"Paste it into the signing certificate field instead, or upload your IdP's metadata XML here.")
		return false
	}

	problems.errorf(fieldMetadata, "The metadata is not XML: it should start with <?xml or <md:EntityDescriptor. "+
		"Download the SAML metadata XML from your IdP and upload that file.")
	return false
}

func reportPEMInsteadOfMetadata(blockType string, problems *problemList) {
	if blockType == "CERTIFICATE" {
		problems.errorf(fieldMetadata, "This is a PEM certificate (-----BEGIN CERTIFICATE-----), not SAML metadata. "+
			"Paste it into the signing certificate field instead, together with the entity ID and SSO URL, "+
			"or upload your IdP's metadata XML here.")
		return
	}
	problems.errorf(fieldMetadata, "This is a PEM %s block, not SAML metadata. "+
		"Upload your IdP's metadata XML here.", blockType)
}

// privateKeyPEMHeader matches the first line of a PEM private key, such as
// "-----BEGIN RSA PRIVATE KEY-----", whether or not the rest is valid PEM.
var privateKeyPEMHeader = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----`)

// privateKeyLabel returns the PEM label of a private key in text, such as
// "RSA PRIVATE KEY", or "" when there is none.
func privateKeyLabel(text string) string {
	if m := privateKeyPEMHeader.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// isBareCertificate reports whether text is base64 of a DER certificate, as
// copied from a certificate field of an IdP's admin console.
func isBareCertificate(text []byte) bool {
	der, err := decodeBase64(string(text))
	if err != nil {
		return false
	}
	_, err = x509.ParseCertificate(der)
	return err == nil
}

// decodeBase64 decodes standard base64 after removing all whitespace, which
// metadata and consoles insert freely inside certificates.
func decodeBase64(text string) ([]byte, error) {
	compact := strings.Map(func(r rune) rune {
		if isXMLSpace(r) || r == '\u00a0' {
			return -1
		}
		return r
	}, text)

	der, err := base64.StdEncoding.DecodeString(compact)
	if err == nil {
		return der, nil
	}
	if raw, rawErr := base64.RawStdEncoding.DecodeString(compact); rawErr == nil {
		return raw, nil
	}
	return nil, fmt.Errorf("decode base64: %w", err)
}

func isXMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r'
}

// containsFold reports whether s contains substr, ignoring ASCII case.
func containsFold(s []byte, substr string) bool {
	return bytes.Contains(bytes.ToUpper(s), []byte(strings.ToUpper(substr)))
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// formatSize writes a byte count in whole kilobytes, rounded up so that a
// size just over a limit never prints as equal to it.
func formatSize(n int) string {
	return fmt.Sprintf("%d KB", (n+1023)/1024)
}

// charsetReader lets the XML decoder read documents declared in the few
// legacy encodings IdP tools emit besides UTF-8.
func (d metadataDocument) charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-16", "utf-16le", "utf-16be", "unicode":
		if d.fromUTF16 {
			return input, nil
		}
	case "us-ascii", "ascii", "utf8":
		return input, nil
	case "iso-8859-1", "latin1", "iso_8859-1", "l1":
		return charmap.ISO8859_1.NewDecoder().Reader(input), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().Reader(input), nil
	}
	return nil, &charsetError{label: label}
}

// charsetError reports an encoding declaration gatehouse cannot decode.
type charsetError struct {
	label string
}

func (e *charsetError) Error() string {
	return fmt.Sprintf("unsupported character encoding %q", e.label)
}
