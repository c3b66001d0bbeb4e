package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

// The message kinds, one per template in templates/.
const (
	KindVerifyRequest     = "verify_request"
	KindRequestStatus     = "request_status"
	KindTokenDelivery     = "token_delivery"
	KindStaffPassword     = "staff_password"
	KindUserSetup         = "user_setup"
	KindCertificateExpiry = "certificate_expiry"
)

// kinds lists every template, so all of them are parsed at start.
var kinds = []string{
	KindVerifyRequest, KindRequestStatus, KindTokenDelivery,
	KindStaffPassword, KindUserSetup, KindCertificateExpiry,
}

//go:embed templates
var templateFS embed.FS

// Each kind has a text template, KIND.txt, that defines "subject" and
// "body", and an HTML template, KIND.html, that defines "content" for
// layout.html. Parsing happens once, when the program starts, and a broken
// template stops it.
var (
	textTemplates = map[string]*texttemplate.Template{}
	htmlTemplates = map[string]*htmltemplate.Template{}
)

func init() {
	for _, kind := range kinds {
		textTemplates[kind] = texttemplate.Must(texttemplate.New(kind).Option("missingkey=error").
			ParseFS(templateFS, "templates/"+kind+".txt"))
		htmlTemplates[kind] = htmltemplate.Must(htmltemplate.New(kind).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+kind+".html"))
	}
}

// header contains the fields that every template gets besides its own.
type header struct {
	Subject string // rendered first, so the HTML layout can use it as the title
}

func (h *header) setSubject(subject string) { h.Subject = subject }

// render builds a message of the given kind from data, which embeds header.
func render(kind, to string, data interface{ setSubject(string) }) (Message, error) {
	var subject, text, html bytes.Buffer
	if err := textTemplates[kind].ExecuteTemplate(&subject, "subject", data); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", kind, err)
	}
	// Collapsing whitespace keeps the subject on one header line even when
	// a field such as the company name contains a line break.
	line := strings.Join(strings.Fields(subject.String()), " ")
	data.setSubject(line)

	if err := textTemplates[kind].ExecuteTemplate(&text, "body", data); err != nil {
		return Message{}, fmt.Errorf("render %s text body: %w", kind, err)
	}
	if err := htmlTemplates[kind].ExecuteTemplate(&html, "layout.html", data); err != nil {
		return Message{}, fmt.Errorf("render %s HTML body: %w", kind, err)
	}

	body := strings.TrimSpace(text.String()) + "\n"
	return Message{Kind: kind, To: to, Subject: line, Text: body, HTML: html.String()}, nil
}

// checkAddress returns the bare address in to, which may carry a display
// name, or an error for a malformed one.
func checkAddress(to string) (string, error) {
	address, err := netmail.ParseAddress(to)
	if err != nil {
		return "", fmt.Errorf("invalid recipient address: %w", err)
	}
	return address.Address, nil
}

// checkLink returns an error unless link is an absolute http or https URL.
func checkLink(name, link string) error {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid %s: want an absolute http or https URL", name)
	}
	return nil
}

// checkRequired returns an error naming the first empty value of pairs,
// which alternate name and value.
func checkRequired(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return fmt.Errorf("missing %s", pairs[i])
		}
	}
	return nil
}

// formatTime writes t the way the messages show dates: in UTC, which the
// text names, because the recipient's time zone is unknown.
func formatTime(t time.Time) string {
	return t.UTC().Format("January 2, 2006 at 3:04 PM MST")
}
