package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/gatehouse-dev/gatehouse/secrets"
)

// mailTimeout bounds the wait for one message: the outbox worker polls
// every second, so a message normally arrives within two.
const mailTimeout = 20 * time.Second

const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// TestE2EOnboardingJourney runs the whole onboarding through HTTP, as the
// contact's browser, a staff member's browser and Okta drive it, against
// the program on a loopback port with its mail delivered over SMTP to a
// server inside the test.
func TestE2EOnboardingJourney(t *testing.T) {
	t.Parallel()
	j := startJourney(t)

	reference := j.submitSetupForm()
	j.confirmEmail(reference)
	j.signInStaff()
	j.approve(reference)
	token := j.revealToken()
	j.runOktaSequence(token)
	j.checkTokenNotStored(token)
}

// journey is the state the steps of the end-to-end test share.
type journey struct {
	t       *testing.T
	server  *testServer
	mail    *mailCatcher
	contact *browser // the customer's IT contact
	staff   *browser // a member of the implementations team
}

const (
	contactEmail = "ada@acme.example"
	staffEmail   = "rita@gatehouse.example"
	// staffPassword is a passphrase longer than secrets.MinPasswordLength.
	staffPassword = "correct horse battery staple"
	oktaEntityID  = "http://www.okta.com/exkdoocxa1VmjpXmX697"
	oktaSSOURL    = "https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml"
)

func startJourney(t *testing.T) *journey {
	t.Helper()
	catcher := startMailCatcher(t)
	ts := startServer(t, serverOptions{SMTPURL: catcher.URL, MailFrom: "Gatehouse <sso@gatehouse.example>"})
	return &journey{t: t, server: ts, mail: catcher, contact: newBrowser(t, ts.URL), staff: newBrowser(t, ts.URL)}
}

// submitSetupForm fills in the setup form, uploads okta-2024.xml and
// returns the request's reference.
func (j *journey) submitSetupForm() string {
	t := j.t
	p := j.contact.Get("/setup")
	expectPage(t, "GET /setup", p, http.StatusOK, "/setup", "Set up single sign-on for your company")

	form := p.Form(t, "/setup")
	if form.Enctype != "multipart/form-data" {
		t.Errorf("setup form enctype = %q, want multipart/form-data for its file input", form.Enctype)
	}
	form.Set(t, "company_name", "Acme Corporation")
	form.Set(t, "email_domains", "acme.example")
	form.Set(t, "product", "meal_program")
	form.Set(t, "contact_name", "Ada Admin")
	form.Set(t, "contact_email", contactEmail)
	form.Set(t, "contact_phone", "+1 415 555 0100")
	form.Set(t, "idp_vendor", "okta")
	form.Set(t, "metadata_source", "upload")
	form.AttachFile(t, "metadata_file", "okta-2024.xml", "text/xml", readTestdata(t, "okta-2024.xml"))
	form.Set(t, "scim", "yes")

	p = j.contact.Submit(form, "Send request")
	expectRedirect(t, "POST /setup", p, http.StatusSeeOther)
	expectPage(t, "POST /setup", p, http.StatusOK, "/setup/sent", "Check your email")
	reference := p.URL.Query().Get("reference")
	if !strings.HasPrefix(reference, "GH-") || !strings.Contains(p.Text(), reference) {
		t.Fatalf("sent page: reference %q missing from the URL %s or the page:\n%s", reference, p.URL, p.Text())
	}
	return reference
}

// confirmEmail follows the verification mail's link and confirms.
func (j *journey) confirmEmail(reference string) {
	t := j.t
	m := j.expectMail("Confirm your email to send your SSO setup request")
	expectText(t, "verification mail", m.Text, reference, "Acme Corporation")
	verifyURL := j.mailLink(m, "/setup/verify/")
	statusURL := j.mailLink(m, "/setup/status/")

	p := j.contact.Get(verifyURL)
	expectPage(t, "GET verification link", p, http.StatusOK, "", "Confirm your email address", contactEmail, reference)
	p = j.contact.Submit(p.Form(t, p.URL.Path), "Confirm and send the request")
	expectRedirect(t, "POST verification link", p, http.StatusSeeOther)
	expectPage(t, "POST verification link", p, http.StatusOK, "", "Your email address is confirmed",
		reference, "your request is with the implementations team")

	p = j.contact.Get(statusURL)
	expectPage(t, "GET status link", p, http.StatusOK, "", reference, "Acme Corporation")
}

// signInStaff creates the staff account with `gatehouse staff add`, sets
// its password through the printed link and signs in.
func (j *journey) signInStaff() {
	t := j.t
	out := runCommand(t, map[string]string{
		"DATABASE_URL": j.server.DatabaseURL, "GATEHOUSE_BASE_URL": j.server.URL, "GATEHOUSE_ENV": "production",
	}, "staff", "add", "--email", staffEmail, "--name", "Rita Reviewer", "--role", "reviewer")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantFirst := "Staff account " + staffEmail + " (reviewer). Set a password within 24 hours at:"
	if len(lines) != 2 || lines[0] != wantFirst || !strings.HasPrefix(lines[1], j.server.URL+"/staff/password/") {
		t.Fatalf("staff add printed:\n%s\nwant %q and a link under %s/staff/password/", out, wantFirst, j.server.URL)
	}

	p := j.staff.Get(lines[1])
	expectPage(t, "GET set-password link", p, http.StatusOK, "", "Set your password", "Rita Reviewer", staffEmail)
	form := p.Form(t, p.URL.Path)
	form.Set(t, "password", staffPassword)
	form.Set(t, "confirm", staffPassword)
	p = j.staff.Submit(form, "Set password")
	expectRedirect(t, "POST set-password link", p, http.StatusSeeOther)
	expectPage(t, "POST set-password link", p, http.StatusOK, "/staff/signin", "Your password is set. Sign in with it now.")

	forged := j.staff.PostForm("/staff/signin", url.Values{"email": {staffEmail}, "password": {staffPassword}}, "http://attacker.example")
	if forged.Status != http.StatusForbidden {
		t.Errorf("cross-origin POST /staff/signin: status %d, want 403", forged.Status)
	}

	form = p.Form(t, "/staff/signin")
	form.Set(t, "email", staffEmail)
	form.Set(t, "password", staffPassword)
	p = j.staff.Submit(form, "Sign in")
	expectRedirect(t, "POST /staff/signin", p, http.StatusSeeOther)
	expectPage(t, "POST /staff/signin", p, http.StatusOK, "/staff", "Queue", "Sign out Rita Reviewer")
}

// approve opens the request from the queue and approves it through the
// decision form.
func (j *journey) approve(reference string) {
	t := j.t
	p := j.staff.Get("/staff")
	expectPage(t, "GET /staff", p, http.StatusOK, "/staff", reference, "Acme Corporation", contactEmail, "Submitted")
	requestPath := p.LinkByText(t, reference)

	p = j.staff.Get(requestPath)
	expectPage(t, "GET request page", p, http.StatusOK, requestPath, "Acme Corporation", reference, "Submitted",
		"Verified", oktaEntityID, oktaSSOURL, "okta-2024.xml", "acme-corporation", "The validator finds no problem today.")
	form := p.Form(t, requestPath+"/decide")
	if v := form.Value("version"); v == "" {
		t.Errorf("decision form has no version field value")
	}
	form.Set(t, "action", "approve")
	p = j.staff.Submit(form, "Send decision")
	expectRedirect(t, "POST decision", p, http.StatusSeeOther)
	expectPage(t, "POST decision", p, http.StatusOK, requestPath,
		"Approved. The tenant is active and the contact was emailed.", "tenant page")
	if p.HasForm(requestPath + "/decide") {
		t.Errorf("request page still offers a decision after approval")
	}

	m := j.expectMail("Your SSO setup request " + reference + " is approved")
	expectText(t, "approved mail", m.Text, "We approved the single sign-on (SSO) setup for Acme Corporation")
	p = j.contact.Get(j.mailLink(m, "/setup/status/"))
	expectPage(t, "GET status link after approval", p, http.StatusOK, "", "Your request is approved.")
}

// revealToken follows the token mail's link, confirms and returns the
// token the page shows. A second confirmation shows nothing.
func (j *journey) revealToken() string {
	t := j.t
	m := j.expectMail("Your SCIM token for Acme Corporation is ready")
	expectText(t, "token mail", m.Text, "tenant acme-corporation", "This email does not contain the token.")
	revealURL := j.mailLink(m, "/token/")

	confirm := j.contact.Get(revealURL)
	expectPage(t, "GET reveal link", confirm, http.StatusOK, "", "Acme Corporation", "Show the token now")
	form := confirm.Form(t, confirm.URL.Path)

	p := j.contact.Submit(form, "Show the token now")
	expectPage(t, "POST reveal link", p, http.StatusOK, "", "Copy the token now.", "Bearer token for Acme Corporation")
	if len(p.Redirects) != 0 {
		t.Errorf("POST reveal link redirected (%v); the token must be in the POST's own response", p.Redirects)
	}
	if got := p.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("POST reveal link: Cache-Control = %q, want no-store", got)
	}
	if got := p.ElementText(t, "scim-url"); got != j.server.URL+"/scim/v2" {
		t.Errorf("reveal page SCIM base URL = %q, want %q", got, j.server.URL+"/scim/v2")
	}
	token := p.ElementText(t, "token")
	if !secrets.LooksLikeToken(token) {
		t.Fatalf("reveal page token %q does not look like a gatehouse token", token)
	}

	again := j.contact.Submit(form, "Show the token now")
	expectPage(t, "second POST reveal link", again, http.StatusGone, "", "This token was already revealed.")
	if strings.Contains(again.Body, token) {
		t.Errorf("second POST reveal link shows the token again")
	}
	return token
}

// runOktaSequence runs Okta's provisioning calls for one user: lookup
// (empty), create, read, lookup (found), deactivate, read. A wrong token
// gets 401.
func (j *journey) runOktaSequence(token string) {
	t := j.t
	okta := scimClient{t: t, base: j.server.URL + "/scim/v2", token: token}
	lookup := "/Users?filter=" + url.QueryEscape(`userName eq "jane.doe@acme.example"`) + "&startIndex=1&count=100"

	empty := okta.Do("GET", lookup, "").Expect(http.StatusOK)
	if diff := cmp.Diff(map[string]any{
		"schemas": []any{scimListSchema}, "totalResults": 0.0, "startIndex": 1.0, "itemsPerPage": 0.0, "Resources": []any{},
	}, empty.Body); diff != "" {
		t.Errorf("lookup before create (-want +got):\n%s", diff)
	}

	created := okta.Do("POST", "/Users", `{
		"schemas": ["`+scimUserSchema+`"],
		"userName": "jane.doe@acme.example",
		"name": {"givenName": "Jane", "familyName": "Doe"},
		"emails": [{"primary": true, "value": "jane.doe@acme.example", "type": "work"}],
		"displayName": "Jane Doe",
		"externalId": "00u1a2b3c4d5e6f7g8h9",
		"active": true
	}`).Expect(http.StatusCreated)
	id, _ := created.Body["id"].(string)
	if id == "" {
		t.Fatalf("POST /Users: no id in %s", created.Raw)
	}
	userURL := j.server.URL + "/scim/v2/Users/" + id
	if got := created.Header.Get("Location"); got != userURL {
		t.Errorf("POST /Users: Location = %q, want %q", got, userURL)
	}
	want := map[string]any{
		"schemas": []any{scimUserSchema}, "id": id, "externalId": "00u1a2b3c4d5e6f7g8h9",
		"userName": "jane.doe@acme.example", "name": map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"displayName": "Jane Doe", "active": true,
		"emails": []any{map[string]any{"primary": true, "value": "jane.doe@acme.example", "type": "work"}},
	}
	expectUser(t, "POST /Users", created.Body, want, userURL)
	j.expectUserInApprovedTenant(id)

	read := okta.Do("GET", "/Users/"+id, "").Expect(http.StatusOK)
	expectUser(t, "GET /Users/{id}", read.Body, want, userURL)

	found := okta.Do("GET", lookup, "").Expect(http.StatusOK)
	resources, _ := found.Body["Resources"].([]any)
	if found.Body["totalResults"] != 1.0 || found.Body["itemsPerPage"] != 1.0 || len(resources) != 1 {
		t.Fatalf("lookup after create: want one result, got %s", found.Raw)
	}
	if diff := cmp.Diff([]any{scimListSchema}, found.Body["schemas"]); diff != "" {
		t.Errorf("lookup after create: schemas (-want +got):\n%s", diff)
	}
	expectUser(t, "lookup after create", resources[0].(map[string]any), want, userURL)

	patched := okta.Do("PATCH", "/Users/"+id, `{"schemas": ["`+scimPatchSchema+`"],
		"Operations": [{"op": "replace", "value": {"active": false}}]}`).Expect(http.StatusOK)
	want["active"] = false
	expectUser(t, "PATCH active false", patched.Body, want, userURL)

	deactivated := okta.Do("GET", "/Users/"+id, "").Expect(http.StatusOK)
	expectUser(t, "GET after deactivation", deactivated.Body, want, userURL)

	j.expectWrongTokenRejected(token)
}

// expectWrongTokenRejected checks that a token of the right shape that
// gatehouse never issued gets 401 with a SCIM error body.
func (j *journey) expectWrongTokenRejected(token string) {
	t := j.t
	wrong := secrets.TokenPrefix + strings.Repeat("A", len(token)-len(secrets.TokenPrefix))
	stranger := scimClient{t: t, base: j.server.URL + "/scim/v2", token: wrong}
	res := stranger.Do("GET", "/Users?filter="+url.QueryEscape(`userName eq "jane.doe@acme.example"`), "").Expect(http.StatusUnauthorized)
	if diff := cmp.Diff([]any{scimErrorSchema}, res.Body["schemas"]); diff != "" {
		t.Errorf("wrong token: schemas (-want +got):\n%s", diff)
	}
	if res.Body["status"] != "401" {
		t.Errorf("wrong token: status in body = %v, want \"401\"", res.Body["status"])
	}
	if detail, _ := res.Body["detail"].(string); detail == "" {
		t.Errorf("wrong token: error body has no detail: %s", res.Raw)
	}
	if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("wrong token: WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

// expectUserInApprovedTenant checks that the SCIM user belongs to the
// tenant that the approval created, which the token selected.
func (j *journey) expectUserInApprovedTenant(id string) {
	var slug string
	err := j.server.DB.Get(&slug, `SELECT t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1`, id)
	if err != nil || slug != "acme-corporation" {
		j.t.Errorf("user %s belongs to tenant %q (%v), want acme-corporation", id, slug, err)
	}
}

// checkTokenNotStored stops the server, so that its logs are complete and
// its batched writes are in the database. Then it looks for the token's
// random part in every log line, every mail and every text, JSON, array
// and binary column of the database.
func (j *journey) checkTokenNotStored(token string) {
	t := j.t
	j.server.Stop(t)
	secret := strings.TrimPrefix(token, secrets.TokenPrefix)

	for i, line := range strings.Split(j.server.Logs.String(), "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("log line %d contains the token: %s", i+1, strings.ReplaceAll(line, secret, "<token>"))
		}
	}
	mails := j.mail.All()
	if len(mails) < 3 {
		t.Errorf("received %d mails, want at least the 3 of the journey", len(mails))
	}
	for _, m := range mails {
		if bytes.Contains(m.Raw, []byte(secret)) || strings.Contains(m.Text, secret) || strings.Contains(m.HTML, secret) {
			t.Errorf("mail %q contains the token", m.Subject)
		}
	}
	for _, column := range textColumns(t, j.server) {
		if n := column.count(t, j.server, secret); n > 0 {
			t.Errorf("column %s.%s contains the token in %d rows", column.Table, column.Name, n)
		}
	}
}

// expectMail waits for the contact's mail with subject and checks the
// envelope.
func (j *journey) expectMail(subject string) testMail {
	j.t.Helper()
	m, err := j.mail.Next(subject, mailTimeout)
	if err != nil {
		j.t.Fatal(err)
	}
	if diff := cmp.Diff([]string{contactEmail}, m.To); diff != "" {
		j.t.Errorf("mail %q recipients (-want +got):\n%s", subject, diff)
	}
	if m.From != "sso@gatehouse.example" {
		j.t.Errorf("mail %q envelope sender = %q, want sso@gatehouse.example", subject, m.From)
	}
	return m
}

// mailLink returns the one link of m under path on the server's base URL.
func (j *journey) mailLink(m testMail, path string) string {
	j.t.Helper()
	var found []string
	for _, link := range m.Links() {
		if strings.HasPrefix(link, j.server.URL+path) {
			found = append(found, link)
		}
	}
	if len(found) != 1 {
		j.t.Fatalf("mail %q has %d links under %s, want 1:\n%s", m.Subject, len(found), j.server.URL+path, m.Text)
	}
	return found[0]
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return data
}

// expectPage checks a page's status, its final path (unless path is
// empty) and that its text contains each of texts.
func expectPage(t *testing.T, step string, p *page, status int, path string, texts ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d; page text:\n%s", step, p.Status, status, p.Text())
	}
	if path != "" && p.URL.Path != path {
		t.Fatalf("%s: ended at %s, want path %s", step, p.URL, path)
	}
	expectText(t, step, p.Text(), texts...)
}

// expectRedirect checks that the server returned one redirect with the
// given status and that the browser followed it.
func expectRedirect(t *testing.T, step string, p *page, status int) {
	t.Helper()
	if len(p.Redirects) != 1 || p.Redirects[0] != status {
		t.Errorf("%s: redirects %v, want one %d; page text:\n%s", step, p.Redirects, status, p.Text())
	}
}

func expectText(t *testing.T, step, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: text lacks %q:\n%s", step, w, text)
		}
	}
}

// expectUser compares a SCIM user with want, apart from meta, and checks
// meta's resource type and location.
func expectUser(t *testing.T, step string, got, want map[string]any, location string) {
	t.Helper()
	meta, _ := got["meta"].(map[string]any)
	withoutMeta := map[string]any{}
	for k, v := range got {
		if k != "meta" {
			withoutMeta[k] = v
		}
	}
	if diff := cmp.Diff(want, withoutMeta); diff != "" {
		t.Errorf("%s: user (-want +got):\n%s", step, diff)
	}
	if meta["resourceType"] != "User" || meta["location"] != location {
		t.Errorf("%s: meta = %v, want resourceType User and location %s", step, meta, location)
	}
}

// runCommand runs `gatehouse args...` through run in a child process,
// with env added to this process's environment. A child process is needed
// because run reads its settings with os.Getenv, and parallel tests share
// one environment. runCommand returns the standard output and fails the
// test on a non-zero exit.
func runCommand(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCommandChildProcess$")
	cmd.Env = append(os.Environ(), commandArgsVariable+"="+string(encoded))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// commandArgsVariable carries runCommand's arguments, as a JSON array, to
// the child process.
const commandArgsVariable = "GATEHOUSE_TEST_COMMAND_ARGS"

// TestCommandChildProcess is the child side of runCommand: it runs the
// command and exits with its code. Run any other way, it does nothing.
func TestCommandChildProcess(t *testing.T) {
	t.Parallel()
	encoded, ok := os.LookupEnv(commandArgsVariable)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(encoded), &args); err != nil {
		fmt.Fprintf(os.Stderr, "decode %s: %v\n", commandArgsVariable, err)
		os.Exit(2)
	}
	os.Exit(run(context.Background(), args, os.Stdout, os.Stderr))
}

// dbColumn is a column of a table in the public schema.
type dbColumn struct {
	Table    string `db:"table_name"`
	Name     string `db:"column_name"`
	DataType string `db:"data_type"`
}

// textColumns lists the columns whose values could hold a token: text of
// any kind, JSON, arrays and binary.
func textColumns(t *testing.T, ts *testServer) []dbColumn {
	t.Helper()
	var columns []dbColumn
	err := ts.DB.Select(&columns, `
		SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
		WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')
		ORDER BY c.table_name, c.column_name`)
	if err != nil {
		t.Fatalf("list text columns: %v", err)
	}
	if len(columns) < 20 {
		t.Fatalf("found only %d text columns; the query no longer matches the schema", len(columns))
	}
	return columns
}

// count returns how many rows hold needle in the column.
func (c dbColumn) count(t *testing.T, ts *testServer, needle string) int {
	t.Helper()
	match := `position($1 in %s::text) > 0`
	if c.DataType == "bytea" {
		match = `position(convert_to($1, 'UTF8') in %s) > 0`
	}
	query := fmt.Sprintf(`SELECT count(*) FROM %s WHERE `+match, quoteIdentifier(c.Table), quoteIdentifier(c.Name))
	var n int
	if err := ts.DB.Get(&n, query, needle); err != nil {
		t.Fatalf("search %s.%s: %v", c.Table, c.Name, err)
	}
	return n
}

func quoteIdentifier(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// scimClient calls the SCIM API as an IdP does: a bearer token and SCIM
// JSON, no cookies.
type scimClient struct {
	t     *testing.T
	base  string
	token string
}

// scimResponse is a SCIM response with its JSON body decoded.
type scimResponse struct {
	t      *testing.T
	step   string
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (c scimClient) Do(method, path, body string) *scimResponse {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &scimResponse{t: c.t, step: method + " " + path, Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		c.t.Fatalf("%s: status %d, body is not a JSON object: %v\n%s", r.step, r.Status, err, raw)
	}
	return r
}

// Expect fails the test unless the response has status and a SCIM
// content type.
func (r *scimResponse) Expect(status int) *scimResponse {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("%s: status %d, want %d; body %s", r.step, r.Status, status, r.Raw)
	}
	if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/scim+json") {
		r.t.Errorf("%s: Content-Type = %q, want application/scim+json", r.step, got)
	}
	return r
}

// browser is an HTTP client that behaves as a browser does for these
// pages: it keeps cookies, follows redirects, and sends the Origin header
// with form posts.
type browser struct {
	t      *testing.T
	base   *url.URL
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: u, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// page is a response as the browser shows it, after redirects.
type page struct {
	Status    int
	URL       *url.URL // where the browser ended up
	Redirects []int    // statuses of the redirects followed, in order
	Header    http.Header
	Body      string
	doc       *html.Node
}

// Get opens ref, an absolute URL or a path on the server.
func (b *browser) Get(ref string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base.ResolveReference(mustParseURL(b.t, ref)).String(), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// PostForm posts URL-encoded values to path with the given Origin header,
// as a page on origin would.
func (b *browser) PostForm(path string, values url.Values, origin string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base.ResolveReference(mustParseURL(b.t, path)).String(),
		strings.NewReader(values.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	return b.do(req)
}

// Submit sends form as a click on the submit button labeled button does.
func (b *browser) Submit(form *htmlForm, button string) *page {
	b.t.Helper()
	body, contentType := form.encode(b.t, button)
	req, err := http.NewRequest(form.Method, form.Action.String(), body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", b.base.Scheme+"://"+b.base.Host)
	return b.do(req)
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	p := &page{Status: res.StatusCode, URL: res.Request.URL, Header: res.Header, Body: string(body)}
	for r := res.Request.Response; r != nil; r = r.Request.Response {
		p.Redirects = append([]int{r.StatusCode}, p.Redirects...)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		p.doc, err = html.Parse(strings.NewReader(p.Body))
		if err != nil {
			b.t.Fatalf("%s %s: parse HTML: %v", req.Method, req.URL.Path, err)
		}
	}
	return p
}

func mustParseURL(t *testing.T, ref string) *url.URL {
	t.Helper()
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Text returns the page's text as a reader sees it, with runs of white
// space collapsed to one space.
func (p *page) Text() string {
	if p.doc == nil {
		return p.Body
	}
	return nodeText(p.doc)
}

func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Head):
			return
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// find returns the elements for which match is true, in document order.
func (p *page) find(match func(*html.Node) bool) []*html.Node {
	var found []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			found = append(found, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if p.doc != nil {
		walk(p.doc)
	}
	return found
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// ElementText returns the text of the element with the given id.
func (p *page) ElementText(t *testing.T, id string) string {
	t.Helper()
	found := p.find(func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(found) != 1 {
		t.Fatalf("page %s has %d elements with id %q, want 1", p.URL.Path, len(found), id)
	}
	return nodeText(found[0])
}

// LinkByText returns the href of the one link whose text is text.
func (p *page) LinkByText(t *testing.T, text string) string {
	t.Helper()
	found := p.find(func(n *html.Node) bool { return n.DataAtom == atom.A && nodeText(n) == text })
	if len(found) != 1 {
		t.Fatalf("page %s has %d links with text %q, want 1", p.URL.Path, len(found), text)
	}
	href, _ := attr(found[0], "href")
	return href
}

// forms returns every form of the page with its action resolved.
func (p *page) forms() []*htmlForm {
	var out []*htmlForm
	for _, n := range p.find(func(n *html.Node) bool { return n.DataAtom == atom.Form }) {
		out = append(out, parseForm(p.URL, n))
	}
	return out
}

// HasForm reports whether the page has a form that posts to actionPath.
func (p *page) HasForm(actionPath string) bool {
	for _, f := range p.forms() {
		if f.Action.Path == actionPath {
			return true
		}
	}
	return false
}

// Form returns the one form whose action resolves to actionPath; a form
// without an action posts to the page's own URL.
func (p *page) Form(t *testing.T, actionPath string) *htmlForm {
	t.Helper()
	var found []*htmlForm
	for _, f := range p.forms() {
		if f.Action.Path == actionPath {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("page %s has %d forms posting to %s, want 1", p.URL.Path, len(found), actionPath)
	}
	return found[0]
}

// htmlForm is a form as the browser would submit it.
type htmlForm struct {
	Action   *url.URL
	Method   string
	Enctype  string
	controls []*formControl
}

// formControl is one input, select, textarea or button of a form.
type formControl struct {
	Name     string
	Kind     string // the input type, or "select", "textarea", "button"
	Value    string
	Checked  bool     // checkboxes and radio buttons
	Options  []string // a select's option values
	Label    string   // a button's text
	Disabled bool
	File     *formFile
}

// formFile is a file chosen in a file input.
type formFile struct {
	Name, ContentType string
	Data              []byte
}

func parseForm(pageURL *url.URL, n *html.Node) *htmlForm {
	f := &htmlForm{Action: pageURL, Method: http.MethodGet, Enctype: "application/x-www-form-urlencoded"}
	if action, ok := attr(n, "action"); ok && action != "" {
		if u, err := url.Parse(action); err == nil {
			f.Action = pageURL.ResolveReference(u)
		}
	}
	if method, _ := attr(n, "method"); strings.EqualFold(method, "post") {
		f.Method = http.MethodPost
	}
	if enctype, _ := attr(n, "enctype"); enctype == "multipart/form-data" {
		f.Enctype = enctype
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if c := parseControl(n); c != nil {
				f.controls = append(f.controls, c)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return f
}

func parseControl(n *html.Node) *formControl {
	name, _ := attr(n, "name")
	_, disabled := attr(n, "disabled")
	c := &formControl{Name: name, Disabled: disabled}
	switch n.DataAtom {
	case atom.Input:
		c.Kind, _ = attr(n, "type")
		c.Kind = strings.ToLower(c.Kind)
		if c.Kind == "" {
			c.Kind = "text"
		}
		c.Value, _ = attr(n, "value")
		_, c.Checked = attr(n, "checked")
		if (c.Kind == "checkbox" || c.Kind == "radio") && c.Value == "" {
			c.Value = "on"
		}
		if c.Kind == "submit" {
			c.Kind, c.Label = "button", c.Value
		}
	case atom.Textarea:
		c.Kind, c.Value = "textarea", textContent(n)
	case atom.Select:
		c.Kind = "select"
		parseOptions(n, c)
	case atom.Button:
		if kind, _ := attr(n, "type"); kind != "" && kind != "submit" {
			return nil
		}
		c.Kind, c.Label = "button", nodeText(n)
		c.Value, _ = attr(n, "value")
	default:
		return nil
	}
	return c
}

// textContent returns the text under n as written, for a textarea.
func textContent(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// parseOptions records a select's options and its selected value: the
// option marked selected, or else the first.
func parseOptions(n *html.Node, c *formControl) {
	var walk func(*html.Node)
	selected := false
	walk = func(n *html.Node) {
		if n.DataAtom == atom.Option {
			value, ok := attr(n, "value")
			if !ok {
				value = nodeText(n)
			}
			c.Options = append(c.Options, value)
			if _, ok := attr(n, "selected"); ok && !selected {
				c.Value, selected = value, true
			}
		}
		for child := n.FirstChild; child != nil; child = child.NextSibling {
			walk(child)
		}
	}
	walk(n)
	if !selected && len(c.Options) > 0 {
		c.Value = c.Options[0]
	}
}

// named returns the controls named name; it fails the test when there is
// none, so a renamed field shows up here.
func (f *htmlForm) named(t *testing.T, name string) []*formControl {
	t.Helper()
	var found []*formControl
	for _, c := range f.controls {
		if c.Name == name && c.Kind != "button" {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		t.Fatalf("form posting to %s has no field %q", f.Action.Path, name)
	}
	return found
}

// Value returns the value the form would send for name, or "".
func (f *htmlForm) Value(name string) string {
	for _, c := range f.controls {
		if c.Name == name && c.Kind != "button" && c.Kind != "file" && !c.Disabled &&
			(c.Checked || (c.Kind != "radio" && c.Kind != "checkbox")) {
			return c.Value
		}
	}
	return ""
}

// Set types value into a text field, picks it in a select, or checks the
// radio button or checkbox with that value, as a person would. It fails
// the test when the form offers no such choice.
func (f *htmlForm) Set(t *testing.T, name, value string) {
	t.Helper()
	controls := f.named(t, name)
	switch kind := controls[0].Kind; kind {
	case "radio", "checkbox":
		matched := false
		for _, c := range controls {
			if c.Value == value && c.Disabled {
				t.Fatalf("form posting to %s: %s %q is disabled", f.Action.Path, name, value)
			}
			c.Checked = c.Value == value || (kind == "checkbox" && c.Checked)
			matched = matched || c.Value == value
		}
		if !matched {
			t.Fatalf("form posting to %s: %s has no choice %q", f.Action.Path, name, value)
		}
	case "select":
		for _, option := range controls[0].Options {
			if option == value {
				controls[0].Value = value
				return
			}
		}
		t.Fatalf("form posting to %s: select %s has no option %q", f.Action.Path, name, value)
	case "file", "hidden":
		t.Fatalf("form posting to %s: %s is a %s field, which a person cannot type into", f.Action.Path, name, kind)
	default:
		controls[0].Value = value
	}
}

// AttachFile chooses a file in the file input name.
func (f *htmlForm) AttachFile(t *testing.T, name, fileName, contentType string, data []byte) {
	t.Helper()
	c := f.named(t, name)[0]
	if c.Kind != "file" {
		t.Fatalf("form posting to %s: %s is a %s field, not a file input", f.Action.Path, name, c.Kind)
	}
	c.File = &formFile{Name: fileName, ContentType: contentType, Data: data}
}

// encode builds the body the browser sends when button is clicked: every
// enabled field in document order, checked choices only, and the
// clicked button's own name and value.
func (f *htmlForm) encode(t *testing.T, button string) (io.Reader, string) {
	t.Helper()
	var submitter *formControl
	for _, c := range f.controls {
		if c.Kind == "button" && c.Label == button && !c.Disabled {
			submitter = c
		}
	}
	if submitter == nil {
		t.Fatalf("form posting to %s has no button %q", f.Action.Path, button)
	}
	var fields []*formControl
	for _, c := range f.controls {
		skip := c.Name == "" || c.Disabled || (c.Kind == "button" && c != submitter) ||
			((c.Kind == "radio" || c.Kind == "checkbox") && !c.Checked)
		if !skip {
			fields = append(fields, c)
		}
	}
	if f.Enctype == "multipart/form-data" {
		return encodeMultipart(t, fields)
	}
	values := url.Values{}
	for _, c := range fields {
		values.Add(c.Name, c.Value)
	}
	return strings.NewReader(values.Encode()), "application/x-www-form-urlencoded"
}

// encodeMultipart writes fields as multipart/form-data. A file input with
// no file chosen is sent as an empty part without a file name, as
// browsers do.
func encodeMultipart(t *testing.T, fields []*formControl) (io.Reader, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, c := range fields {
		var err error
		if c.Kind == "file" {
			file := c.File
			if file == nil {
				file = &formFile{ContentType: "application/octet-stream"}
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, c.Name, file.Name))
			h.Set("Content-Type", file.ContentType)
			var part io.Writer
			if part, err = w.CreatePart(h); err == nil {
				_, err = part.Write(file.Data)
			}
		} else {
			err = w.WriteField(c.Name, c.Value)
		}
		if err != nil {
			t.Fatalf("encode form field %s: %v", c.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, w.FormDataContentType()
}
