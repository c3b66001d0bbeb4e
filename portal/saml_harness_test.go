package portal

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"html"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// testPolicy is the Content-Security-Policy that the program's middleware
// sets on every page, so the tests see pages as browsers do.
const testPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// signinEnv is a portal on a loopback server with a real PostgreSQL
// database and one tenant whose IdP is a crewjam/saml IdentityProvider.
type signinEnv struct {
	t      testing.TB
	db     *sqlx.DB
	srv    *Server
	web    *httptest.Server
	idp    *testIdP
	tenant tenants.Tenant
	store  *tenants.Store
	logs   *syncWriter
	clock  *testClock
	engine *gin.Engine
}

// testClock is the portal's clock; tests move it to check time windows.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) set(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
}

// envOptions shape the tenant of a signinEnv.
type envOptions struct {
	Slug       string
	Settings   tenants.Settings
	Binding    string // SSO binding; HTTP-Redirect when empty
	ExtraCerts []*x509.Certificate
	IdPHost    string // loopback address for the IdP; 127.0.0.1 when empty
}

func newSigninEnv(t testing.TB, opts envOptions) *signinEnv {
	t.Helper()
	db := pgtest.New(t)
	env := &signinEnv{t: t, db: db, store: tenants.NewStore(db), logs: &syncWriter{}, clock: &testClock{}}
	env.startPortal()
	env.idp = newTestIdP(t, opts.IdPHost)

	if opts.Slug == "" {
		opts.Slug = "acme"
	}
	if opts.Binding == "" {
		opts.Binding = saml.HTTPRedirectBinding
	}
	env.tenant = env.createTenant(opts.Slug, "Acme Corp", opts.Settings)
	certs := append([]*x509.Certificate{env.idp.cert}, opts.ExtraCerts...)
	env.connect(env.tenant, env.idp, opts.Binding, certs)
	env.idp.trustSP(t, env, opts.Slug, true)
	return env
}

func (env *signinEnv) startPortal() {
	t := env.t
	var handler http.Handler
	env.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(env.web.Close)
	base, _ := url.Parse(env.web.URL)
	key, err := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(Config{DB: env.db, BaseURL: base, Keyring: secrets.NewKeyring(key), Logger: logger, Now: env.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	env.srv = srv
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) { c.Header("Content-Security-Policy", testPolicy); c.Next() })
	srv.Register(r)
	handler = r
	env.engine = r
}

func (env *signinEnv) createTenant(slug, name string, settings tenants.Settings) tenants.Tenant {
	t, err := env.store.Create(env.t.Context(), tenants.Tenant{Slug: slug, Name: name, Product: tenants.MealProgram, Settings: settings})
	if err != nil {
		env.t.Fatal(err)
	}
	return t
}

// connect stores the SAML connection of tenant t to idp, trusting certs.
func (env *signinEnv) connect(t tenants.Tenant, idp *testIdP, binding string, certs []*x509.Certificate) {
	var ders [][]byte
	for _, c := range certs {
		ders = append(ders, c.Raw)
	}
	err := env.store.SetSAMLConnection(env.t.Context(), tenants.SAMLConnection{
		TenantID: t.ID, IdPEntityID: idp.entityID(), SSOURL: idp.ssoURL(), SSOBinding: binding, Certificates: ders,
	})
	if err != nil {
		env.t.Fatal(err)
	}
}

// addUser inserts an active user of tenant t.
func (env *signinEnv) addUser(t tenants.Tenant, userName, email string) tenants.User {
	var u tenants.User
	err := sqlx.GetContext(env.t.Context(), env.db, &u, `
		INSERT INTO users (tenant_id, user_name, email, scim_managed) VALUES ($1, $2, $3, true)
		RETURNING `+tenants.UserColumns, t.ID, userName, email)
	if err != nil {
		env.t.Fatal(err)
	}
	return u
}

func (env *signinEnv) exec(query string, args ...any) {
	env.t.Helper()
	if _, err := env.db.ExecContext(env.t.Context(), query, args...); err != nil {
		env.t.Fatal(err)
	}
}

// browser is an HTTP client with a cookie jar that follows no redirects,
// so each test step sees every response.
type browser struct {
	t      testing.TB
	client *http.Client
}

func (env *signinEnv) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: env.t, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// page is one response as a test reads it.
type testPage struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (b *browser) do(req *http.Request) testPage {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return testPage{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body), Header: resp.Header}
}

func (b *browser) get(u string) testPage {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) testPage {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow follows redirects from p, resolving them against base, and
// returns the first response that is not a redirect.
func (b *browser) follow(base string, p testPage) testPage {
	b.t.Helper()
	for i := 0; i < 10 && p.Status >= 300 && p.Status < 400; i++ {
		next, err := url.Parse(base)
		if err != nil {
			b.t.Fatal(err)
		}
		p = b.get(next.ResolveReference(mustURL(b.t, p.Location)).String())
	}
	return p
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	formPattern  = regexp.MustCompile(`(?s)<form[^>]*method="([^"]*)"[^>]*action="([^"]*)"`)
	inputPattern = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// formIn returns the method, action and hidden fields of the first form
// on an HTML page, such as an auto-submitting SAML form.
func formIn(t testing.TB, body string) (string, string, url.Values) {
	t.Helper()
	m := formPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in page:\n%s", body)
	}
	fields := url.Values{}
	for _, in := range inputPattern.FindAllStringSubmatch(body, -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return strings.ToUpper(m[1]), html.UnescapeString(m[2]), fields
}

// signInSPInitiated runs a whole SP-initiated sign-in through the IdP and
// returns the ACS's response.
func (env *signinEnv) signInSPInitiated(b *browser, slug string) testPage {
	env.t.Helper()
	start := b.get(env.web.URL + "/sso/" + slug)
	idpPage := env.sendToIdP(b, start)
	method, action, fields := formIn(env.t, idpPage.Body)
	if method != http.MethodPost || action != env.srv.acsURL(slug) {
		env.t.Fatalf("IdP form = %s %s, want POST %s", method, action, env.srv.acsURL(slug))
	}
	return b.post(action, fields)
}

// sendToIdP takes the /sso response (a redirect or an auto-submitting
// form) to the IdP and returns the IdP's page.
func (env *signinEnv) sendToIdP(b *browser, start testPage) testPage {
	env.t.Helper()
	switch start.Status {
	case http.StatusFound:
		return b.get(start.Location)
	case http.StatusOK:
		method, action, fields := formIn(env.t, start.Body)
		if method == http.MethodGet {
			return b.get(action + "?" + fields.Encode())
		}
		return b.post(action, fields)
	}
	env.t.Fatalf("/sso answered %d:\n%s", start.Status, start.Body)
	return testPage{}
}

// pendingRequestID starts an SP-initiated sign-in and returns the
// AuthnRequest's ID without visiting the IdP.
func (env *signinEnv) pendingRequestID(b *browser, slug string) string {
	env.t.Helper()
	start := b.get(env.web.URL + "/sso/" + slug)
	var encoded string
	switch start.Status {
	case http.StatusFound:
		encoded = mustURL(env.t, start.Location).Query().Get("SAMLRequest")
	case http.StatusOK:
		_, _, fields := formIn(env.t, start.Body)
		encoded = fields.Get("SAMLRequest")
	default:
		env.t.Fatalf("/sso answered %d", start.Status)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		env.t.Fatal(err)
	}
	if start.Status == http.StatusFound {
		raw, err = io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
		if err != nil {
			env.t.Fatal(err)
		}
	}
	var req struct {
		ID string `xml:"ID,attr"`
	}
	if err := xml.Unmarshal(raw, &req); err != nil {
		env.t.Fatal(err)
	}
	return req.ID
}

// postResponse posts a SAML Response to a tenant's ACS.
func (env *signinEnv) postResponse(b *browser, slug string, response []byte, relayState string) testPage {
	env.t.Helper()
	form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(response)}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	return b.post(env.srv.acsURL(slug), form)
}

// testIdP is a crewjam/saml IdentityProvider on a loopback server. It
// signs every user in without a password, as the session it holds.
type testIdP struct {
	idp  *saml.IdentityProvider
	srv  *httptest.Server
	key  *rsa.PrivateKey
	cert *x509.Certificate

	mu      sync.Mutex
	sps     map[string]*saml.EntityDescriptor
	session saml.Session
}

func newTestIdP(t testing.TB, host string) *testIdP {
	t.Helper()
	key, cert := newKeyPair(t, "Test IdP", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	return newTestIdPWithKey(t, host, key, cert)
}

// newTestIdPWithKey starts a test IdP that signs with key and cert.
func newTestIdPWithKey(t testing.TB, host string, key *rsa.PrivateKey, cert *x509.Certificate) *testIdP {
	t.Helper()
	p := &testIdP{key: key, cert: cert, sps: map[string]*saml.EntityDescriptor{}}
	mux := http.NewServeMux()
	p.srv = httptest.NewUnstartedServer(mux)
	if host != "" {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		p.srv.Listener = l
	}
	p.srv.Start()
	t.Cleanup(p.srv.Close)

	base := mustURL(t, p.srv.URL)
	p.idp = &saml.IdentityProvider{
		Key: key, Certificate: cert,
		Logger:                  log.New(testLogWriter{t}, "idp: ", 0),
		MetadataURL:             *base.ResolveReference(&url.URL{Path: "/metadata"}),
		SSOURL:                  *base.ResolveReference(&url.URL{Path: "/sso"}),
		ServiceProviderProvider: p,
		SessionProvider:         p,
	}
	mux.HandleFunc("/sso", p.idp.ServeSSO)
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		p.idp.ServeIDPInitiated(w, r, r.URL.Query().Get("sp"), r.URL.Query().Get("RelayState"))
	})
	p.setUser("")
	return p
}

func (p *testIdP) entityID() string { return p.idp.MetadataURL.String() }
func (p *testIdP) ssoURL() string   { return p.idp.SSOURL.String() }

// setUser sets the user the IdP signs in: NameID and mail attribute.
func (p *testIdP) setUser(email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.session = saml.Session{
		ID: "session-1", CreateTime: time.Now().Add(-time.Minute), ExpireTime: time.Now().Add(time.Hour), Index: "1",
		NameID: email, NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		UserEmail: email, UserGivenName: "Ada", UserSurname: "Lovelace",
	}
}

// GetSession implements saml.SessionProvider.
func (p *testIdP) GetSession(http.ResponseWriter, *http.Request, *saml.IdpAuthnRequest) *saml.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.session
	return &s
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (p *testIdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp, ok := p.sps[id]; ok {
		return sp, nil
	}
	return nil, os.ErrNotExist
}

// trustSP reads gatehouse's SP metadata for slug and registers it with the
// IdP. Without encrypt, the encryption key is left out, so the IdP sends
// plaintext assertions.
func (p *testIdP) trustSP(t testing.TB, env *signinEnv, slug string, encrypt bool) *saml.EntityDescriptor {
	t.Helper()
	resp := env.newBrowser().get(env.srv.spEntityID(slug))
	if resp.Status != http.StatusOK {
		t.Fatalf("SP metadata: status %d", resp.Status)
	}
	var sp saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(resp.Body), &sp); err != nil {
		t.Fatalf("parse SP metadata: %v", err)
	}
	if !encrypt {
		for i := range sp.SPSSODescriptors {
			var keep []saml.KeyDescriptor
			for _, kd := range sp.SPSSODescriptors[i].KeyDescriptors {
				if kd.Use == "signing" {
					keep = append(keep, kd)
				}
			}
			sp.SPSSODescriptors[i].KeyDescriptors = keep
		}
	}
	p.mu.Lock()
	p.sps[sp.EntityID] = &sp
	p.mu.Unlock()
	return &sp
}

// respond builds a signed Response to the SP with entity ID spID, as the
// IdP would send it, for the pending request requestID ("" for an
// IdP-initiated one). mutate may change the assertion before it is signed.
func (p *testIdP) respond(t testing.TB, spID, requestID string, mutate func(*saml.Assertion)) []byte {
	t.Helper()
	el := p.respondElement(t, spID, requestID, mutate)
	doc := etree.NewDocument()
	doc.SetRoot(el)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *testIdP) respondElement(t testing.TB, spID, requestID string, mutate func(*saml.Assertion)) *etree.Element {
	t.Helper()
	httpReq := httptest.NewRequest(http.MethodGet, "/start", nil)
	req, err := p.idp.NewIdpInitiatedRequest(httpReq, spID, "")
	if err != nil {
		t.Fatal(err)
	}
	req.Request.ID = requestID
	req.Request.IssueInstant = req.Now
	session := p.GetSession(nil, nil, req)
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req.Assertion)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	return req.ResponseEl
}

// newKeyPair returns an RSA key and a self-signed certificate for it.
func newKeyPair(t testing.TB, cn string, notBefore, notAfter time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// signEnveloped signs el with key and cert and moves the Signature right
// after the Issuer, where the SAML schema puts it.
func signEnveloped(t testing.TB, el *etree.Element, key *rsa.PrivateKey, cert *x509.Certificate, method string) *etree.Element {
	t.Helper()
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if method != "" {
		if err := ctx.SetSignatureMethod(method); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	// SignEnveloped appends the Signature without setting its etree index,
	// so RemoveChild and goxmldsig's enveloped transform would remove the
	// wrong element. A round trip through text sets every index.
	signed = parseXML(t, writeXML(t, signed))
	sig := signed.ChildElements()[len(signed.ChildElements())-1]
	signed.RemoveChild(sig)
	at := 0
	for i, child := range signed.Child {
		if e, ok := child.(*etree.Element); ok && e.Tag == "Issuer" {
			at = i + 1
		}
	}
	signed.InsertChildAt(at, sig)
	return signed
}

// removeSignatures deletes every ds:Signature element under el.
func removeSignatures(el *etree.Element) {
	for _, child := range el.ChildElements() {
		if child.Tag == "Signature" {
			el.RemoveChild(child)
			continue
		}
		removeSignatures(child)
	}
}

func writeXML(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func parseXML(t testing.TB, raw []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

// testLogWriter sends the IdP's log lines to the test log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// syncWriter is a log buffer that concurrent handlers share.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// String returns what was logged so far.
func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
