package portal_test

import (
	"bytes"
	"context"
	"html"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/portal"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// setupClock is the pinned time of the setup tests: the day the corpus
// verdicts were written, so certificate expiry gives the same answers on
// every run.
var setupClock = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

const setupBaseURL = "https://gatehouse.example.com"

// setupEnv is a portal on a fresh database with a pinned clock.
type setupEnv struct {
	t      *testing.T
	db     *sqlx.DB
	engine *gin.Engine
	now    time.Time
}

func newSetupEnv(t *testing.T) *setupEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	env := &setupEnv{t: t, db: pgtest.New(t), engine: gin.New(), now: setupClock}
	base, _ := url.Parse(setupBaseURL)
	srv, err := portal.New(portal.Config{
		DB:      env.db,
		BaseURL: base,
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(bytes.Repeat([]byte{7}, 32))),
		Logger:  slog.New(slog.NewTextHandler(testLogWriter{t}, nil)),
		Now:     func() time.Time { return env.now },
	})
	if err != nil {
		t.Fatalf("portal.New: %v", err)
	}
	srv.Register(env.engine)
	return env
}

// testLogWriter sends the portal's log lines to the test's log, so a
// failing test shows the cause of a 500.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// do sends req from client address ip and returns the response.
func (e *setupEnv) do(req *http.Request, ip string) *httptest.ResponseRecorder {
	e.t.Helper()
	req.RemoteAddr = ip + ":40000"
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	return rec
}

func (e *setupEnv) get(path string) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequest(http.MethodGet, path, nil), "192.0.2.10")
}

// postURLEncoded posts a URL-encoded form.
func (e *setupEnv) postURLEncoded(path string, values url.Values, ip string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req, ip)
}

// upload is a file part of a multipart form.
type upload struct {
	Name, ContentType string
	Data              []byte
}

// postMultipart posts a multipart form, as browsers send the setup form.
func (e *setupEnv) postMultipart(path string, values url.Values, file *upload, ip string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for name, list := range values {
		for _, v := range list {
			w.WriteField(name, v)
		}
	}
	if file != nil {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", `form-data; name="metadata_file"; filename="`+file.Name+`"`)
		h.Set("Content-Type", file.ContentType)
		part, _ := w.CreatePart(h)
		part.Write(file.Data)
	}
	w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return e.do(req, ip)
}

// validForm returns a complete form that pastes okta-2024.xml.
func validForm(t *testing.T) url.Values {
	return url.Values{
		"company_name":    {"Acme Corporation"},
		"email_domains":   {"acme.example, acme-corp.example"},
		"product":         {"meal_program"},
		"contact_name":    {"Ada Admin"},
		"contact_email":   {"ada@acme.example"},
		"contact_phone":   {"+1 415 555 0100"},
		"idp_vendor":      {"okta"},
		"metadata_source": {"paste"},
		"metadata":        {string(corpusFile(t, "okta-2024.xml"))},
		"scim":            {"yes"},
		"require_sso":     {"on"},
		"autoprovision":   {"on"},
		"notes":           {"Go-live in January."},
		"action":          {"send"},
	}
}

func corpusFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "idp-metadata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return data
}

// outboxMail is one row of the outbox.
type outboxMail struct {
	Kind    string `db:"kind"`
	To      string `db:"to_address"`
	Subject string `db:"subject"`
	Text    string `db:"text_body"`
}

func (e *setupEnv) mails() []outboxMail {
	e.t.Helper()
	var out []outboxMail
	if err := e.db.Select(&out, `SELECT kind, to_address, subject, text_body FROM outbox ORDER BY id`); err != nil {
		e.t.Fatalf("list outbox: %v", err)
	}
	return out
}

var linkPattern = regexp.MustCompile(`https?://[^/\s]+(/setup/(verify|status)/[A-Za-z0-9_-]{43})`)

// links returns the verification and status paths in a mail's text.
func links(t *testing.T, m outboxMail) (verify, status string) {
	t.Helper()
	for _, match := range linkPattern.FindAllStringSubmatch(m.Text, -1) {
		if match[2] == "verify" {
			verify = match[1]
		} else {
			status = match[1]
		}
	}
	if status == "" {
		t.Fatalf("mail %q has no status link:\n%s", m.Subject, m.Text)
	}
	return verify, status
}

func (e *setupEnv) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
		e.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func (e *setupEnv) request(reference string) forms.Request {
	e.t.Helper()
	var r forms.Request
	if err := e.db.Get(&r, `SELECT `+forms.RequestColumns+` FROM setup_requests WHERE reference = $1`, reference); err != nil {
		e.t.Fatalf("get request %s: %v", reference, err)
	}
	return r
}

// onlyRequest returns the one stored request.
func (e *setupEnv) onlyRequest() forms.Request {
	e.t.Helper()
	var r forms.Request
	if err := e.db.Get(&r, `SELECT `+forms.RequestColumns+` FROM setup_requests`); err != nil {
		e.t.Fatalf("get the request: %v", err)
	}
	return r
}

// staffMove moves a request as staff would, through forms.Transition.
func (e *setupEnv) staffMove(r forms.Request, to forms.State, note string) forms.Request {
	e.t.Helper()
	tx, err := e.db.BeginTxx(context.Background(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := forms.Transition(context.Background(), tx, r, to, "staff:rita@gatehouse.example", note)
	if err != nil {
		tx.Rollback()
		e.t.Fatalf("move request to %s: %v", to, err)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// submitValid submits validForm from ip and returns the created request's
// verification and status paths.
func (e *setupEnv) submitValid(values url.Values, ip string) (verify, status string) {
	e.t.Helper()
	before := len(e.mails())
	rec := e.postMultipart("/setup", values, nil, ip)
	if rec.Code != http.StatusSeeOther {
		e.t.Fatalf("submit: status %d, want 303; body:\n%s", rec.Code, errorSummary(rec.Body.String()))
	}
	mails := e.mails()
	if len(mails) != before+1 {
		e.t.Fatalf("submit enqueued %d mails, want 1", len(mails)-before)
	}
	return links(e.t, mails[len(mails)-1])
}

var summaryPattern = regexp.MustCompile(`(?s)<div class="notice bad error-summary".*?</div>`)

// errorSummary returns the error summary of a page, or the page's start.
func errorSummary(body string) string {
	if m := summaryPattern.FindString(body); m != "" {
		return m
	}
	if len(body) > 2000 {
		return body[:2000]
	}
	return body
}

// fieldErrors returns the text of a field's error messages.
func fieldErrors(body, field string) string {
	re := regexp.MustCompile(`(?s)<div class="error" id="error-` + regexp.QuoteMeta(field) + `">(.*?)</div>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func httptestRequest(method, path, body, contentType string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return req
}

// decide applies a staff decision through the approval workflow, on the
// environment's clock.
func (e *setupEnv) decide(r forms.Request, to forms.State, note string) {
	e.t.Helper()
	flow := forms.NewWorkflow(forms.WorkflowConfig{
		DB: e.db, BaseURL: setupBaseURL, Now: func() time.Time { return e.now },
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(bytes.Repeat([]byte{7}, 32))),
	})
	_, err := flow.Decide(context.Background(), forms.Decision{
		RequestID: r.ID, Version: r.Version, To: to, Note: note, Actor: forms.Actor{Name: "staff:rita@gatehouse.example"},
	})
	if err != nil {
		e.t.Fatalf("move request to %s: %v", to, err)
	}
}
