package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// testMailFrom is MAIL_FROM for servers that deliver to an smtpSink.
const testMailFrom = "Gatehouse <sso@gatehouse.test>"

// TestScaleOutTwoInstances runs two servers on one database, as two
// replicas behind a load balancer, and checks that background work is done
// once and that sessions, SCIM users and token revocation do not depend on
// which instance serves the request.
func TestScaleOutTwoInstances(t *testing.T) {
	t.Parallel()
	db, databaseURL := pgtest.NewWithURL(t)
	sink := startSMTPSink(t)
	masterKey := secrets.GenerateMasterKey()
	expired := seedDeliveries(t, db, masterKey)

	opts := serverOptions{DatabaseURL: databaseURL, MasterKey: masterKey, SMTPURL: sink.url(), MailFrom: testMailFrom}
	a := startServer(t, opts)
	b := startServer(t, opts)

	t.Run("expired deliveries erased once", func(t *testing.T) {
		checkDeliveriesErasedOnce(t, db, expired, a, b)
	})
	t.Run("each mail sent once", func(t *testing.T) {
		checkMailSentOnce(t, db, sink, a, b)
	})
	t.Run("staff session on both instances", func(t *testing.T) {
		checkStaffSessionShared(t, db, a, b)
	})
	t.Run("SCIM state on both instances", func(t *testing.T) {
		checkSCIMShared(t, db, a, b)
	})
}

// seedDeliveries creates three tenants with one token delivery each, two of
// them already expired, and returns the IDs of the expired ones.
func seedDeliveries(t *testing.T, db *sqlx.DB, masterKey string) []string {
	t.Helper()
	var expired []string
	for i := range 3 {
		id, _ := newDelivery(t, db, masterKey, fmt.Sprintf("delivery-%d", i))
		if i == 2 {
			continue
		}
		if _, err := db.ExecContext(t.Context(), `UPDATE token_deliveries SET expires_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		expired = append(expired, id)
	}
	return expired
}

// checkDeliveriesErasedOnce waits for the erase job, which each instance
// runs when it starts, and checks that the erased counts the instances
// logged add up to the expired deliveries: no delivery was erased twice.
func checkDeliveriesErasedOnce(t *testing.T, db *sqlx.DB, expired []string, servers ...*testServer) {
	waitFor(t, 10*time.Second, "expired deliveries erased", func() bool {
		var left int
		err := db.Get(&left, `SELECT count(*) FROM token_deliveries WHERE expires_at <= now() AND ciphertext IS NOT NULL`)
		return err == nil && left == 0
	})
	time.Sleep(500 * time.Millisecond) // let the slower instance's job finish too

	erased := 0
	for _, s := range servers {
		for _, line := range logLines(t, s.Logs) {
			if line["msg"] == "expired_deliveries_erased" {
				erased += int(line["count"].(float64))
			}
		}
	}
	if erased != len(expired) {
		t.Errorf("instances logged %d erased deliveries, want %d (each erased once)", erased, len(expired))
	}
	var sealed int
	if err := db.Get(&sealed, `SELECT count(*) FROM token_deliveries WHERE ciphertext IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if sealed != 1 {
		t.Errorf("%d deliveries still sealed, want 1 (the one not expired)", sealed)
	}
}

// checkMailSentOnce enqueues mail while both instances' workers run and
// checks that the SMTP server received each message exactly once.
func checkMailSentOnce(t *testing.T, db *sqlx.DB, sink *smtpSink, servers ...*testServer) {
	const messages = 60
	sink.setDelay(30 * time.Millisecond) // keep both workers busy at once
	want := map[string]int{}
	for i := range messages {
		to := fmt.Sprintf("scale-%02d@example.test", i)
		_, err := mail.Enqueue(t.Context(), db, mail.Message{Kind: "scale_out_test", To: to, Subject: "Scale-out test " + to, Text: "Hello."})
		if err != nil {
			t.Fatal(err)
		}
		want[to] = 1
	}

	waitFor(t, 60*time.Second, "every message sent", func() bool {
		var sent int
		err := db.Get(&sent, `SELECT count(*) FROM outbox WHERE kind = 'scale_out_test' AND state = 'sent'`)
		return err == nil && sent == messages
	})
	time.Sleep(1500 * time.Millisecond) // over one poll interval, for any duplicate to arrive

	got := map[string]int{}
	for _, m := range sink.messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
	var retried int
	if err := db.Get(&retried, `SELECT count(*) FROM outbox WHERE kind = 'scale_out_test' AND attempts <> 1`); err != nil {
		t.Fatal(err)
	}
	if retried != 0 {
		t.Errorf("%d messages took more than one attempt, want every one sent at its first", retried)
	}
	for i, s := range servers {
		if n := countLogLines(t, s.Logs, "mail sent"); n == 0 {
			t.Errorf("instance %d sent no mail; the test wants both workers to share the outbox", i)
		} else {
			t.Logf("instance %d sent %d messages", i, n)
		}
	}
}

// checkStaffSessionShared sets a password and signs in on one instance and
// uses the session cookie on the other, then signs out on the other and
// checks the first no longer accepts the cookie.
func checkStaffSessionShared(t *testing.T, db *sqlx.DB, a, b *testServer) {
	email, password := addStaff(t, db, a.URL, "Scale Admin")
	cookie := signInStaff(t, b.URL, email, password)

	for _, s := range []*testServer{a, b} {
		res := newTestClient(t, s.URL).withCookie(cookie).get("/staff")
		if res.Status != http.StatusOK || !strings.Contains(res.Body, "Scale Admin") {
			t.Fatalf("GET /staff on %s with the session: status %d, want 200 with the staff name", s.URL, res.Status)
		}
	}

	if res := newTestClient(t, a.URL).withCookie(cookie).postForm("/staff/signout", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("sign out on the first instance: status %d, want 303", res.Status)
	}
	res := newTestClient(t, b.URL).withCookie(cookie).get("/staff")
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/staff/signin") {
		t.Errorf("GET /staff on the second instance after sign-out: status %d to %q, want 303 to /staff/signin", res.Status, res.Header.Get("Location"))
	}
}

// checkSCIMShared creates a user through one instance, reads it through the
// other, then revokes the token and checks both instances reject it at
// once, although each has the token in its in-memory cache.
func checkSCIMShared(t *testing.T, db *sqlx.DB, a, b *testServer) {
	tenant, token := newSCIMTenant(t, db, "scale-scim")
	created := scimRequest(t, a.URL, token, http.MethodPost, "/Users", scimUserJSON("ada@scale.example"))
	if created.Status != http.StatusCreated {
		t.Fatalf("create on the first instance: status %d: %s", created.Status, created.Body)
	}
	var user struct{ ID string }
	if err := json.Unmarshal([]byte(created.Body), &user); err != nil {
		t.Fatal(err)
	}
	if res := scimRequest(t, b.URL, token, http.MethodGet, "/Users/"+user.ID, ""); res.Status != http.StatusOK {
		t.Fatalf("GET on the second instance: status %d, want 200", res.Status)
	}

	var tokenID string
	if err := db.Get(&tokenID, `SELECT id FROM scim_tokens WHERE tenant_id = $1`, tenant.ID); err != nil {
		t.Fatal(err)
	}
	if err := tenants.NewStore(db).RevokeToken(t.Context(), tenant.ID, tokenID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*testServer{a, b} {
		if res := scimRequest(t, s.URL, token, http.MethodGet, "/Users/"+user.ID, ""); res.Status != http.StatusUnauthorized {
			t.Errorf("GET on %s after revocation: status %d, want 401", s.URL, res.Status)
		}
	}
}

// newSCIMTenant creates an active tenant with SCIM on and returns it with
// a new token.
func newSCIMTenant(t *testing.T, db *sqlx.DB, slug string) (tenants.Tenant, string) {
	t.Helper()
	store := tenants.NewStore(db)
	tenant, err := store.Create(t.Context(), tenants.Tenant{
		Slug: slug, Name: "Tenant " + slug, Product: tenants.MealProgram, Settings: tenants.Settings{SCIM: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := store.IssueToken(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tenant, token.Reveal()
}

func scimUserJSON(userName string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName +
		`","name":{"givenName":"Test","familyName":"User"},"emails":[{"value":"` + userName + `","type":"work","primary":true}],"active":true}`
}

// scimRequest sends one SCIM request with the bearer token to the server
// at base. path is relative to /scim/v2.
func scimRequest(t *testing.T, base, token, method, path, body string) testResponse {
	t.Helper()
	header := http.Header{"Authorization": {"Bearer " + token}}
	if body != "" {
		header.Set("Content-Type", "application/scim+json")
	}
	return newTestClient(t, base).request(method, "/scim/v2"+path, body, header)
}

// addStaff creates an admin through the staff store, sets the password
// through the set-password page on base and returns email and password.
func addStaff(t *testing.T, db *sqlx.DB, base, name string) (email, password string) {
	t.Helper()
	email = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@gatehouse.test"
	_, link, err := forms.NewStaffStore(db).Add(t.Context(), email, name, forms.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	password = "correct horse battery staple"
	c := newTestClient(t, base)
	if res := c.get("/staff/password/" + link.Reveal()); res.Status != http.StatusOK {
		t.Fatalf("GET the set-password page: status %d, want 200", res.Status)
	}
	res := c.postForm("/staff/password/"+link.Reveal(), url.Values{"password": {password}, "confirm": {password}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("set the password: status %d, want 303", res.Status)
	}
	return email, password
}

// signInStaff signs in on base and returns the session cookie.
func signInStaff(t *testing.T, base, email, password string) *http.Cookie {
	t.Helper()
	res := newTestClient(t, base).postForm("/staff/signin", url.Values{"email": {email}, "password": {password}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d, want 303", email, res.Status)
	}
	for _, c := range res.Cookies {
		if c.Name == "gatehouse_session" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sign in as %s set no session cookie", email)
	return nil
}

// testClient is a browser without JavaScript for one server: it follows no
// redirect, so tests see each response, and sends the cookies it is given.
type testClient struct {
	t       *testing.T
	base    string
	http    *http.Client
	cookies []*http.Cookie
}

// testResponse is a response read whole.
type testResponse struct {
	Status  int
	Header  http.Header
	Body    string
	Cookies []*http.Cookie
}

func newTestClient(t *testing.T, base string) *testClient {
	jar, _ := cookiejar.New(nil)
	return &testClient{t: t, base: base, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *testClient) withCookie(cookie *http.Cookie) *testClient {
	c.cookies = append(c.cookies, cookie)
	return c
}

func (c *testClient) get(path string) testResponse {
	c.t.Helper()
	return c.request(http.MethodGet, path, "", nil)
}

func (c *testClient) postForm(path string, form url.Values) testResponse {
	c.t.Helper()
	return c.request(http.MethodPost, path, form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

// request sends method to path on the client's server. It fails the test
// when no response arrives.
func (c *testClient) request(method, path, body string, header http.Header) testResponse {
	c.t.Helper()
	res, err := c.try(method, path, body, header)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// try is request that returns transport errors instead of failing, for
// goroutines other than the test's.
func (c *testClient) try(method, path, body string, header http.Header) (testResponse, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return testResponse{}, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	for _, cookie := range c.cookies {
		req.AddCookie(cookie)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return testResponse{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return testResponse{Status: res.StatusCode, Header: res.Header, Body: string(data), Cookies: res.Cookies()}, err
}

// waitFor polls done every 50 ms until it returns true, and fails the test
// after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines parses the server's JSON log, one object per line.
func logLines(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if raw == "" {
			continue
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, raw)
		}
		lines = append(lines, line)
	}
	return lines
}

func countLogLines(t *testing.T, logs *syncBuffer, msg string) int {
	t.Helper()
	n := 0
	for _, line := range logLines(t, logs) {
		if line["msg"] == msg {
			n++
		}
	}
	return n
}

// smtpSink is an SMTP server on 127.0.0.1 that keeps every message it
// accepts. While it is down, it accepts TCP connections and closes them at
// once, as a crashed mail server behind a load balancer does. It keeps its
// port throughout, so no other test can take the port in the meantime.
type smtpSink struct {
	addr   string
	down   atomic.Bool
	mu     sync.Mutex
	delay  time.Duration
	stored []sinkMessage
}

// sinkMessage is one message the sink accepted.
type sinkMessage struct {
	From string
	To   []string
	Data []byte
}

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &smtpSink{addr: ln.Addr().String()}
	server := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: sink}, nil
	}))
	server.Domain = "localhost"
	server.AllowInsecureAuth = true
	server.ReadTimeout = 10 * time.Second
	server.WriteTimeout = 10 * time.Second
	go server.Serve(downListener{Listener: ln, down: &sink.down})
	t.Cleanup(func() { server.Close() })
	return sink
}

// url is SMTP_URL for the sink: plain text, no authentication.
func (s *smtpSink) url() string { return "smtp://" + s.addr + "?starttls=none" }

func (s *smtpSink) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *smtpSink) messages() []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMessage(nil), s.stored...)
}

// downListener closes each accepted connection while down is set.
type downListener struct {
	net.Listener
	down *atomic.Bool
}

func (l downListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return conn, err
		}
		conn.Close()
	}
}

// sinkSession is one SMTP connection to the sink.
type sinkSession struct {
	sink *smtpSink
	from string
	to   []string
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	var data bytes.Buffer
	if _, err := io.Copy(&data, r); err != nil {
		return err
	}
	s.sink.mu.Lock()
	delay := s.sink.delay
	s.sink.mu.Unlock()
	time.Sleep(delay)

	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.stored = append(s.sink.stored, sinkMessage{From: s.from, To: s.to, Data: data.Bytes()})
	return nil
}

func (s *sinkSession) Reset() { s.from, s.to = "", nil }

func (s *sinkSession) Logout() error { return nil }
