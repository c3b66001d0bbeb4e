package portal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// staffEnv is a portal on a fresh database, served over HTTP on loopback.
type staffEnv struct {
	t    *testing.T
	db   *sqlx.DB
	web  *httptest.Server
	srv  *Server
	ring *secrets.Keyring
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newStaffEnv(t *testing.T) *staffEnv {
	t.Helper()
	env := &staffEnv{t: t, db: pgtest.New(t), logs: &syncBuffer{}}
	key, err := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	env.ring = secrets.NewKeyring(key)

	var handler http.Handler
	env.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(env.web.Close)
	base, _ := url.Parse(env.web.URL)
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.srv, err = New(Config{DB: env.db, BaseURL: base, Keyring: env.ring, Logger: logger, DevMail: true})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	env.srv.Register(r)
	handler = r
	return env
}

// addStaff creates an account with a password and returns the password.
func (env *staffEnv) addStaff(email, role string) string {
	env.t.Helper()
	store := forms.NewStaffStore(env.db)
	_, link, err := store.Add(env.t.Context(), email, strings.Split(email, "@")[0], role)
	if err != nil {
		env.t.Fatalf("add staff %s: %v", email, err)
	}
	password := "correct horse battery " + role
	if _, err := store.SetPassword(env.t.Context(), forms.Operator, link, secrets.Password(password)); err != nil {
		env.t.Fatalf("set password of %s: %v", email, err)
	}
	return password
}

// staffClient is a browser without JavaScript: a cookie jar that does not
// follow redirects, so tests see each staffResponse.
type staffClient struct {
	env  *staffEnv
	http *http.Client
}

type staffResponse struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

func (env *staffEnv) client() *staffClient {
	jar, _ := cookiejar.New(nil)
	return &staffClient{env: env, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *staffClient) do(req *http.Request) staffResponse {
	c.env.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return staffResponse{Status: res.StatusCode, Body: string(body), Header: res.Header, Location: res.Header.Get("Location")}
}

func (c *staffClient) get(path string) staffResponse {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.url(path), nil)
	return c.do(req)
}

func (c *staffClient) post(path string, form url.Values) staffResponse {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *staffClient) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return c.env.web.URL + path
}

// signIn signs the client in and fails the test unless it lands on the queue.
func (c *staffClient) signIn(email, password string) {
	c.env.t.Helper()
	res := c.post("/staff/signin", url.Values{"email": {email}, "password": {password}})
	if res.Status != http.StatusSeeOther || res.Location != "/staff" {
		c.env.t.Fatalf("sign in as %s: status %d, location %q", email, res.Status, res.Location)
	}
}

// seedOptions adjusts a seeded setup request.
type seedOptions struct {
	Company string
	Product string
	SCIM    bool
	State   forms.State
	Slug    string
}

// seedRequest stores a submitted setup request with a fresh signing
// certificate, as the setup portal would after verification.
func (env *staffEnv) seedRequest(o seedOptions) forms.Request {
	env.t.Helper()
	if o.Company == "" {
		o.Company = "Acme Corp"
	}
	if o.Product == "" {
		o.Product = "meal_program"
	}
	if o.State == "" {
		o.State = forms.StateSubmitted
	}
	if o.Slug == "" {
		o.Slug = forms.SlugFromName(o.Company)
	}
	var id string
	err := env.db.GetContext(env.t.Context(), &id, `
		INSERT INTO setup_requests (reference, state, company_name, email_domains, product, contact_name, contact_email,
		    idp_entity_id, sso_url, sso_binding, certificates, scim_requested, require_sso, autoprovision,
		    tenant_slug, verified_at, submitted_at)
		VALUES ($1, $2, $3, '{acme.example}', $4, 'Ana Admin', 'ana@acme.example', 'https://idp.acme.example/entity',
		    'https://idp.acme.example/sso', 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', $5, $6, true, false,
		    $7, now(), now() - interval '2 hours')
		RETURNING id`,
		forms.NewReference(), o.State, o.Company, o.Product, pq.ByteaArray{staffTestCertificate(env.t, 90*24*time.Hour)},
		o.SCIM, o.Slug)
	if err != nil {
		env.t.Fatalf("seed request: %v", err)
	}
	r, err := forms.NewStore(env.db).Get(env.t.Context(), id)
	if err != nil {
		env.t.Fatal(err)
	}
	return r
}

// staffTestCertificate returns a self-signed certificate's DER that expires
// after validFor.
func staffTestCertificate(t testing.TB, validFor time.Duration) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "idp.acme.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validFor),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var staffLinkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// mailLink returns the first link in the newest mail to address whose
// path starts with prefix, or fails the test.
func (env *staffEnv) mailLink(to, prefix string) string {
	env.t.Helper()
	var bodies []string
	err := env.db.SelectContext(env.t.Context(), &bodies, `SELECT text_body FROM outbox WHERE to_address = $1 ORDER BY id DESC`, to)
	if err != nil {
		env.t.Fatal(err)
	}
	for _, body := range bodies {
		for _, link := range staffLinkPattern.FindAllString(body, -1) {
			if strings.HasPrefix(link, env.web.URL+prefix) {
				return strings.TrimRight(link, ".,)")
			}
		}
	}
	env.t.Fatalf("no mail to %s with a link to %s", to, prefix)
	return ""
}

// auditCount counts the audit rows with that action.
func (env *staffEnv) auditCount(action string) int {
	env.t.Helper()
	var n int
	if err := env.db.GetContext(env.t.Context(), &n, `SELECT count(*) FROM audit_log WHERE action = $1`, action); err != nil {
		env.t.Fatal(err)
	}
	return n
}

// versionIn returns the value of the first hidden version field after
// the form whose action is action.
func versionIn(t *testing.T, body, action string) string {
	t.Helper()
	i := strings.Index(body, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("no form posting to %s", action)
	}
	m := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(body[i:])
	if m == nil {
		t.Fatalf("form posting to %s has no version", action)
	}
	return m[1]
}
