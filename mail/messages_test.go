package mail

import (
	"flag"
	"strings"
	"testing"
	"time"
)

var showMessages = flag.Bool("show-messages", false, "print every rendered message, to proofread the templates")

var testExpiry = time.Date(2026, time.March, 4, 17, 30, 0, 0, time.FixedZone("EST", -5*3600))

// messageCase is one constructor call and what its message must contain.
type messageCase struct {
	name    string
	build   func() (Message, error)
	kind    string
	subject string
	want    []string // in both bodies
	notWant []string // in neither body
}

func messageCases() []messageCase {
	return []messageCase{
		{
			name: "verify request",
			build: func() (Message, error) {
				return VerifyRequest("Ada Lovelace <ada@example.com>", "Ada", "Example & Co", "GH-7K2P", "https://gatehouse.test/setup/verify/v-secret", "https://gatehouse.test/setup/status/s-secret")
			},
			kind:    KindVerifyRequest,
			subject: "Confirm your email to send your SSO setup request",
			want:    []string{"Hello Ada,", "https://gatehouse.test/setup/verify/v-secret", "https://gatehouse.test/setup/status/s-secret", "GH-7K2P"},
		},
		{
			name: "request submitted",
			build: func() (Message, error) {
				return RequestStatus("ada@example.com", "Ada", "Example", "GH-7K2P", "submitted", "", "https://gatehouse.test/setup/status/s")
			},
			kind:    KindRequestStatus,
			subject: "We received your SSO setup request GH-7K2P",
			want:    []string{"is now with our implementations team", "https://gatehouse.test/setup/status/s"},
			notWant: []string{"Note from our team"},
		},
		{
			name: "request approved",
			build: func() (Message, error) {
				return RequestStatus("ada@example.com", "Ada", "Example", "GH-7K2P", "approved", "Welcome aboard.", "https://gatehouse.test/setup/status/s")
			},
			kind:    KindRequestStatus,
			subject: "Your SSO setup request GH-7K2P is approved",
			want:    []string{"We approved", "Note from our team", "Welcome aboard."},
		},
		{
			name: "request rejected",
			build: func() (Message, error) {
				return RequestStatus("ada@example.com", "", "Example", "GH-7K2P", "rejected", "Duplicate of GH-1AAA.", "https://gatehouse.test/setup/status/s")
			},
			kind:    KindRequestStatus,
			subject: "Your SSO setup request GH-7K2P was not approved",
			want:    []string{"Hello,", "could not approve", "Duplicate of GH-1AAA."},
		},
		{
			name: "changes requested",
			build: func() (Message, error) {
				return RequestStatus("ada@example.com", "Ada", "Example", "GH-7K2P", "changes_requested", "Please add the <SSO URL>.", "https://gatehouse.test/setup/status/s")
			},
			kind:    KindRequestStatus,
			subject: "Your SSO setup request GH-7K2P needs changes",
			want:    []string{"need some changes", "send it again"},
		},
		{
			name: "token delivery",
			build: func() (Message, error) {
				return TokenDelivery("ada@example.com", "Ada", "Example", "example", "https://gatehouse.test/setup/token/t-secret", testExpiry)
			},
			kind:    KindTokenDelivery,
			subject: "Your SCIM token for Example is ready",
			want:    []string{"https://gatehouse.test/setup/token/t-secret", "expires on March 4, 2026 at 10:30 PM UTC", "shown only once", "does not contain the token"},
		},
		{
			name: "staff password link",
			build: func() (Message, error) {
				return StaffPasswordLink("grace@staff.test", "Grace", "https://gatehouse.test/staff/password/p-secret", testExpiry)
			},
			kind:    KindStaffPassword,
			subject: "Set your Gatehouse staff password",
			want:    []string{"Hello Grace,", "https://gatehouse.test/staff/password/p-secret", "March 4, 2026 at 10:30 PM UTC"},
		},
		{
			name: "user setup with password",
			build: func() (Message, error) {
				return UserSetup("linus@example.com", "Linus", "Example", "https://gatehouse.test/account/setup/u-secret", false)
			},
			kind:    KindUserSetup,
			subject: "Set up your Example account",
			want:    []string{"set your password", "https://gatehouse.test/account/setup/u-secret"},
			notWant: []string{"do not need a password"},
		},
		{
			name: "user setup with SSO only",
			build: func() (Message, error) {
				return UserSetup("linus@example.com", "Linus", "Example", "https://gatehouse.test/account/setup/u-secret", true)
			},
			kind:    KindUserSetup,
			subject: "Set up your Example account",
			want:    []string{"do not need a password", "https://gatehouse.test/account/setup/u-secret"},
			notWant: []string{"set your password"},
		},
		{
			name: "certificate expires in days",
			build: func() (Message, error) {
				return CertificateExpiry("it@example.com", "Example", "example", "CN=idp.example.com", testExpiry, 21)
			},
			kind:    KindCertificateExpiry,
			subject: "The SAML signing certificate for Example expires in 21 days",
			want:    []string{"expires on March 4, 2026 at 10:30 PM UTC", "CN=idp.example.com", "example"},
		},
		{
			name: "certificate expires tomorrow",
			build: func() (Message, error) {
				return CertificateExpiry("it@example.com", "Example", "example", "CN=idp.example.com", testExpiry, 1)
			},
			kind:    KindCertificateExpiry,
			subject: "The SAML signing certificate for Example expires tomorrow",
			want:    []string{"expires on March 4, 2026"},
		},
		{
			name: "certificate expired",
			build: func() (Message, error) {
				return CertificateExpiry("it@example.com", "Example", "example", "", testExpiry, -3)
			},
			kind:    KindCertificateExpiry,
			subject: "The SAML signing certificate for Example has expired",
			want:    []string{"expired on March 4, 2026"},
			notWant: []string{"Certificate subject"},
		},
	}
}

func TestMessagesRender(t *testing.T) {
	t.Parallel()
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			if err != nil {
				t.Fatalf("build message: %v", err)
			}
			if *showMessages {
				t.Logf("To: %s\nSubject: %s\n\n%s\n%s", m.To, m.Subject, m.Text, m.HTML)
			}

			if m.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", m.Kind, tc.kind)
			}
			if m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, "<title>"+htmlEscape(tc.subject)+"</title>") {
				t.Errorf("HTML body lacks the layout or the subject as its title:\n%s", m.HTML)
			}
			if strings.Contains(m.Text, "{{") || strings.Contains(m.HTML, "{{") || strings.Contains(m.Text+m.HTML, "<no value>") {
				t.Errorf("message contains template residue:\n%s\n%s", m.Text, m.HTML)
			}
			for _, want := range tc.want {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text body lacks %q:\n%s", want, m.Text)
				}
				if !strings.Contains(m.HTML, htmlEscape(want)) {
					t.Errorf("HTML body lacks %q:\n%s", want, m.HTML)
				}
			}
			for _, notWant := range tc.notWant {
				if strings.Contains(m.Text, notWant) || strings.Contains(m.HTML, htmlEscape(notWant)) {
					t.Errorf("message contains %q", notWant)
				}
			}
		})
	}
}

// htmlEscape escapes s the way html/template escapes text.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&#39;", `"`, "&#34;").Replace(s)
}

func TestMessagesEscapeHTML(t *testing.T) {
	t.Parallel()
	m, err := RequestStatus("ada@example.com", "<b>Ada</b>", "Example", "GH-1", "changes_requested",
		`<script>alert("x")</script>`, "https://gatehouse.test/setup/status/s")
	if err != nil {
		t.Fatalf("build message: %v", err)
	}

	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>Ada</b>") {
		t.Errorf("HTML body contains unescaped input:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML body lacks the escaped note:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `<script>alert("x")</script>`) {
		t.Errorf("text body altered the note:\n%s", m.Text)
	}
}

func TestMessagesSubjectOneLine(t *testing.T) {
	t.Parallel()
	m, err := TokenDelivery("ada@example.com", "Ada", "Example\r\nBcc: victim@example.org", "example", "https://gatehouse.test/t", testExpiry)
	if err != nil {
		t.Fatalf("build message: %v", err)
	}

	if want := "Your SCIM token for Example Bcc: victim@example.org is ready"; m.Subject != want {
		t.Errorf("Subject = %q, want %q", m.Subject, want)
	}
}

func TestMessagesRecipientBareAddress(t *testing.T) {
	t.Parallel()
	m, err := StaffPasswordLink("Grace Hopper <grace@staff.test>", "Grace", "https://gatehouse.test/p", testExpiry)
	if err != nil {
		t.Fatalf("build message: %v", err)
	}

	if m.To != "grace@staff.test" {
		t.Errorf("To = %q, want grace@staff.test", m.To)
	}
}

func TestMessagesRejectInvalidInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func() (Message, error)
		want  string
	}{
		{"malformed recipient", func() (Message, error) {
			return StaffPasswordLink("not an address", "Grace", "https://gatehouse.test/p", testExpiry)
		}, "invalid recipient address"},
		{"relative link", func() (Message, error) {
			return StaffPasswordLink("grace@staff.test", "Grace", "/staff/password/p", testExpiry)
		}, "invalid password link"},
		{"javascript link", func() (Message, error) {
			return UserSetup("linus@example.com", "Linus", "Example", "javascript:alert(1)", false)
		}, "invalid setup link"},
		{"unknown request state", func() (Message, error) {
			return RequestStatus("ada@example.com", "Ada", "Example", "GH-1", "in_review", "", "https://gatehouse.test/s")
		}, `unknown state "in_review"`},
		{"missing company", func() (Message, error) {
			return VerifyRequest("ada@example.com", "Ada", " ", "GH-1", "https://gatehouse.test/v", "https://gatehouse.test/s")
		}, "missing company"},
		{"missing tenant slug", func() (Message, error) {
			return CertificateExpiry("it@example.com", "Example", "", "CN=x", testExpiry, 3)
		}, "missing tenant slug"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestTemplatesCoverEveryKind(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range messageCases() {
		covered[tc.kind] = true
	}
	for _, kind := range kinds {
		if !covered[kind] {
			t.Errorf("no test renders kind %q", kind)
		}
	}
}
