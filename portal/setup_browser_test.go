package portal_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/portal"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// browserEnv is the portal behind a real HTTP server, driven by headless
// Chromium.
type browserEnv struct {
	*setupEnv
	server  *httptest.Server
	browser *portal.Browser
	ctx     context.Context
}

// TestSetupBrowserJourney runs the IT contact's whole journey in Chromium:
// a form with errors, the upload, verification, the status page, a change
// request answered by editing, and withdrawal. It saves screenshots at
// desktop and phone width into $GATEHOUSE_SCREENSHOTS, or a temporary
// folder, for a person to look at.
func TestSetupBrowserJourney(t *testing.T) {
	t.Parallel()
	b := newBrowserEnv(t)

	b.open("/setup")
	b.screenshots("form-empty")
	b.type_("#field-company_name", "Acme Corporation")
	b.type_("#field-email_domains", "acme.example")
	b.do(chromedp.Click(chromedp.CSS("#field-product")))
	b.type_("#field-contact_name", "Ada Admin")
	b.type_("#field-contact_email", "ada@acme.example")
	b.do(chromedp.SetValue(chromedp.CSS("#field-idp_vendor"), "okta"))
	b.do(chromedp.Click(chromedp.CSS("#field-scim")))
	b.submit(`button[value="send"]`)
	b.expectText("#error-summary", "Enter a phone number")
	b.expectText("#error-contact_phone", "Enter a phone number")
	b.screenshots("form-errors")

	b.type_("#field-contact_phone", "+1 415 555 0100")
	b.submit(`button[value="preview"]`)
	b.expectText("#sp-acs", "/saml/acme-corporation/acs")
	b.screenshots("form-preview")

	fixture, _ := filepath.Abs(filepath.Join("testdata", "idp-metadata", "okta-2024.xml"))
	b.do(chromedp.Click(chromedp.CSS("#field-metadata_source")))
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#field-metadata_file"), []string{fixture}))
	b.submit(`button[value="send"]`)
	b.expectText("main h1", "Check your email")
	b.screenshots("sent")

	mails := b.mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails after submitting, want 1", len(mails))
	}
	verify, status := links(t, mails[0])
	b.open(verify)
	b.screenshots("verify")
	b.submit("main form button")
	b.expectText("[role=status]", "Your email address is confirmed")
	b.expectText("main h1", "Submitted")
	b.screenshots("verified")

	b.open(status)
	b.expectText("main h1", "Submitted")
	b.screenshots("status-submitted")

	r := b.staffMove(b.onlyRequest(), forms.StateInReview, "")
	b.staffMove(r, forms.StateChangesRequested, "Please use your production Okta org, not the trial one.")
	b.open(status)
	b.expectText(".next", "Please use your production Okta org")
	b.screenshots("status-changes-requested")

	b.submit(`a[href$="/edit"]`)
	b.expectText("main h1", "Change your request")
	b.screenshots("edit")
	b.type_("#field-contact_phone", "+1 415 555 0199")
	b.type_("#field-resubmit_note", "Switched to the production org.")
	b.submit(`button[value="send"]`)
	b.expectText("[role=status]", "Your changes are with the implementations team")
	if got := b.onlyRequest(); got.State != forms.StateSubmitted || got.ContactPhone != "+1 415 555 0199" {
		t.Errorf("after resubmitting: state %s, phone %q", got.State, got.ContactPhone)
	}

	b.do(chromedp.Click(chromedp.CSS("details.withdraw summary")))
	b.type_("#field-reason", "Testing only.")
	b.submit("details.withdraw button")
	b.expectText("main h1", "Withdrawn")
	b.screenshots("status-withdrawn")
	t.Logf("screenshots in %s", b.browser.Dir())
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	browser := portal.NewBrowser(t, "setup")
	b := &browserEnv{setupEnv: &setupEnv{t: t, db: pgtest.New(t), now: time.Now()}}

	// The base URL must be the server's own, so mailed links work in the
	// browser; the handler is set once the server has its address.
	var handler http.Handler = http.NotFoundHandler()
	b.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(b.server.Close)
	gin.SetMode(gin.TestMode)
	b.engine = gin.New()
	base, _ := url.Parse(b.server.URL)
	srv, err := portal.New(portal.Config{
		DB: b.db, BaseURL: base, Now: time.Now,
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(bytes.Repeat([]byte{9}, 32))),
		Logger:  slog.New(slog.NewTextHandler(testLogWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(b.engine)
	handler = b.engine

	b.browser, b.ctx = browser, browser.Context()
	return b
}

func (b *browserEnv) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browserEnv) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.server.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// type_ types into an empty field with key events, as a person would, and
// replaces the value of a filled one.
func (b *browserEnv) type_(selector, text string) {
	b.t.Helper()
	value, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("browser: read %s: %v", selector, err)
	}
	if value != "" {
		b.do(chromedp.SetValue(chromedp.CSS(selector), text))
		return
	}
	b.do(chromedp.SendKeys(chromedp.CSS(selector), text))
}

// submit clicks a button or link that loads a new page, and waits for it.
func (b *browserEnv) submit(selector string) {
	b.t.Helper()
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("browser: click %s: %v", selector, err)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
}

func (b *browserEnv) expectText(selector, want string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("browser: read %s: %v", selector, err)
	}
	if !strings.Contains(got, want) {
		b.t.Fatalf("%s reads %q, want it to contain %q", selector, got, want)
	}
}

// screenshots saves the whole page at desktop and at phone width.
func (b *browserEnv) screenshots(name string) {
	b.t.Helper()
	b.do(b.browser.Shot(name))
}
