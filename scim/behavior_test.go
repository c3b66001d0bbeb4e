package scim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestTwoTenantIsolation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	_, otherToken := ts.addTenant("globex", tenants.Settings{SCIM: true})

	mine := ts.do("POST", "/scim/v2/Users", `{"userName":"pat@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	theirs := ts.doWith(otherToken, "POST", "/scim/v2/Users", `{"userName":"pat@example.com"}`, nil).expect(t, http.StatusCreated).json(t)["id"].(string)
	if mine == theirs {
		t.Fatal("two tenants share a user")
	}
	ts.doWith(otherToken, "GET", "/scim/v2/Users/"+mine, "", nil).expect(t, http.StatusNotFound)
	ts.doWith(otherToken, "PATCH", "/scim/v2/Users/"+mine, `{"Operations":[{"op":"replace","value":{"active":false}}]}`, nil).expect(t, http.StatusNotFound)
	ts.doWith(otherToken, "DELETE", "/scim/v2/Users/"+mine, "", nil).expect(t, http.StatusNotFound)
	list := ts.doWith(otherToken, "GET", "/scim/v2/Users", "", nil).expect(t, http.StatusOK).json(t)
	if list["totalResults"] != 1.0 {
		t.Errorf("other tenant lists %v users, want 1", list["totalResults"])
	}
	group := ts.do("POST", "/scim/v2/Groups", `{"displayName":"Mine","members":[{"value":"`+theirs+`"}]}`).expect(t, http.StatusBadRequest).json(t)
	if group["scimType"] != invalidValue {
		t.Errorf("adding another tenant's user = %v, want invalidValue", group)
	}
}

func TestConcurrentDuplicateCreates(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	var wg sync.WaitGroup
	statuses := make(chan int, 16)
	for i := range 16 {
		wg.Go(func() {
			name := "Same.User@example.com"
			if i%2 == 1 {
				name = strings.ToLower(name)
			}
			statuses <- ts.do("POST", "/scim/v2/Users", `{"userName":"`+name+`"}`).status
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusCreated] != 1 || counts[http.StatusConflict] != 15 {
		t.Errorf("statuses = %v, want one 201 and fifteen 409", counts)
	}
}

func TestCreateLinksExistingUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	var id string
	if err := ts.db.Get(&id, `INSERT INTO users (tenant_id, user_name, display_name) VALUES ($1, 'Lee@Example.com', 'Old') RETURNING id`, ts.tenant.ID); err != nil {
		t.Fatal(err)
	}
	linked := ts.do("POST", "/scim/v2/Users", `{"userName":"lee@example.com","displayName":"New"}`).expect(t, http.StatusCreated).json(t)
	if linked["id"] != id || linked["displayName"] != "New" {
		t.Errorf("link = %v, want user %s with the IdP's displayName", linked, id)
	}
	conflict := ts.do("POST", "/scim/v2/Users", `{"userName":"LEE@example.com"}`).expect(t, http.StatusConflict).json(t)
	if conflict["scimType"] != uniqueness || conflict["status"] != "409" {
		t.Errorf("second create = %v, want 409 uniqueness", conflict)
	}
}

func TestDeactivateEndsSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"sam@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	if _, err := ts.db.Exec(`INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) VALUES ('\x01', $1, $2, now() + interval '1 hour')`, id, ts.tenant.ID); err != nil {
		t.Fatal(err)
	}
	ts.do("PATCH", "/scim/v2/Users/"+id, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).expect(t, http.StatusOK)
	var sessions int
	ts.db.Get(&sessions, `SELECT count(*) FROM sessions WHERE user_id = $1`, id)
	if sessions != 0 {
		t.Errorf("%d sessions left after deactivation", sessions)
	}
	u, err := tenants.NewStore(ts.db).UserByID(context.Background(), ts.tenant.ID, id)
	if err != nil || u.CanSignIn() {
		t.Errorf("deactivated user = %+v, %v; want kept and unable to sign in", u, err)
	}
}

func TestDeleteKeepsData(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"kim@example.com","title":"Chef"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("DELETE", "/scim/v2/Users/"+id, "").expect(t, http.StatusNoContent)
	ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusNotFound)
	ts.do("DELETE", "/scim/v2/Users/"+id, "").expect(t, http.StatusNotFound)
	if list := ts.do("GET", "/scim/v2/Users", "").expect(t, http.StatusOK).json(t); list["totalResults"] != 0.0 {
		t.Errorf("deleted user is listed: %v", list)
	}
	var title string
	if err := ts.db.Get(&title, `SELECT attributes->>'title' FROM users WHERE id = $1 AND deleted_at IS NOT NULL`, id); err != nil || title != "Chef" {
		t.Errorf("retained row title = %q, %v", title, err)
	}
}

func TestRevokedTokenStopsAtOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"rev@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK)
	if _, err := ts.db.Exec(`UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = $1`, ts.tenant.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/scim/v2/Users/" + id, ""},
		{"GET", "/scim/v2/Users?filter=" + q(`userName eq "rev@example.com"`), ""},
		{"PATCH", "/scim/v2/Users/" + id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{"POST", "/scim/v2/Users", `{"userName":"new@example.com"}`},
	} {
		resp := ts.do(r.method, r.path, r.body)
		if resp.status != http.StatusUnauthorized {
			t.Errorf("%s %s after revocation = %d, want 401", r.method, r.path, resp.status)
		}
	}
}

func TestUnauthorizedBeforeBody(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	for _, token := range []string{"", "gh_scim_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "garbage"} {
		resp := ts.doWith(token, "POST", "/scim/v2/Users", strings.Repeat("x", 2<<20), nil).expect(t, http.StatusUnauthorized)
		body := resp.json(t)
		if body["status"] != "401" || body["schemas"].([]any)[0] != errorSchema {
			t.Errorf("401 body = %v", body)
		}
	}
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	body := `{"userName":"big@example.com","title":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	ts.do("POST", "/scim/v2/Users", body).expect(t, http.StatusRequestEntityTooLarge)

	// Without Content-Length, a body whose JSON object ends before the
	// limit is still too large when more follows past the limit.
	for _, tail := range []string{strings.Repeat(" ", MaxBodyBytes), strings.Repeat(" ", MaxBodyBytes) + "x"} {
		body := io.MultiReader(strings.NewReader(`{"userName":"tail@example.com"}`), strings.NewReader(tail))
		req, err := http.NewRequest("POST", ts.http.URL+"/scim/v2/Users", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+ts.token)
		resp, err := ts.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked body with %d bytes after the JSON = %d, want 413", len(tail), resp.StatusCode)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Every(time.Hour), RateBurst: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ts.srv = srv
	for i := range 3 {
		req, _ := http.NewRequest("GET", "/scim/v2/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+ts.token)
		rec := newRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if i < 2 && rec.Code != http.StatusOK {
			t.Errorf("request %d = %d, want 200", i+1, rec.Code)
		}
		if i == 2 && (rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "") {
			t.Errorf("request 3 = %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
		}
		// RFC 7644 defines no scimType for a rate limit: tooMany is for
		// filters that match too much.
		if i == 2 && strings.Contains(rec.Body.String(), "scimType") {
			t.Errorf("request 3 body %s has a scimType, want none", rec.Body)
		}
	}
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "secret@example.com"`), "").expect(t, http.StatusOK)
	ts.do("GET", "/scim/v2/Users?filter="+q(`bogus eq "x"`), "").expect(t, http.StatusBadRequest)
	ts.do("POST", "/scim/v2/Users", `{"userName":"log@example.com","password":"a long enough secret"}`).expect(t, http.StatusCreated)
	if err := ts.srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := tenants.NewStore(ts.db).SCIMRequests(context.Background(), ts.tenant.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("got %d log entries, want 3", len(entries))
	}
	if e := entries[1]; e.Status != 400 || e.SCIMType != invalidFilter || e.Path != "/scim/v2/Users" {
		t.Errorf("filter error entry = %+v", e)
	}
	all := fmt.Sprint(entries)
	for _, secret := range []string{"secret@example.com", "a long enough secret", ts.token} {
		if strings.Contains(all, secret) {
			t.Errorf("request log contains %q", secret)
		}
	}
	var lastUsed *time.Time
	ts.db.Get(&lastUsed, `SELECT last_used_at FROM scim_tokens WHERE tenant_id = $1`, ts.tenant.ID)
	if lastUsed == nil {
		t.Error("token last_used_at not recorded")
	}
}

func TestAutoprovisionSendsSetupMail(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenants.Settings{Autoprovision: true, RequireSSO: true})
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"new.hire@example.com","name":{"givenName":"New","familyName":"Hire"},"emails":[{"value":"new.hire@example.com","primary":true}]}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	var links, mails int
	ts.db.Get(&links, `SELECT count(*) FROM password_links WHERE user_id = $1 AND expires_at > now() + interval '6 days'`, id)
	ts.db.Get(&mails, `SELECT count(*) FROM outbox WHERE to_address = 'new.hire@example.com' AND text_body LIKE '%/account/setup/%'`)
	if links != 1 || mails != 1 {
		t.Errorf("got %d set-up links and %d mails, want 1 and 1", links, mails)
	}

	var linkedID string
	ts.db.Get(&linkedID, `INSERT INTO users (tenant_id, user_name, email) VALUES ($1, 'old@example.com', 'old@example.com') RETURNING id`, ts.tenant.ID)
	ts.do("POST", "/scim/v2/Users", `{"userName":"old@example.com"}`).expect(t, http.StatusCreated)
	ts.db.Get(&mails, `SELECT count(*) FROM outbox WHERE to_address = 'old@example.com'`)
	if mails != 0 {
		t.Errorf("a linked user got %d set-up mails, want none", mails)
	}
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"etag@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	patch := `{"Operations":[{"op":"replace","path":"displayName","value":"X"}]}`
	ts.doWith(ts.token, "PATCH", "/scim/v2/Users/"+id, patch, map[string]string{"If-Match": `W/"7"`}).expect(t, http.StatusPreconditionFailed)
	resp := ts.doWith(ts.token, "PATCH", "/scim/v2/Users/"+id, patch, map[string]string{"If-Match": `W/"1"`}).expect(t, http.StatusOK)
	if resp.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag after PATCH = %q, want W/\"2\"", resp.header.Get("ETag"))
	}
	ts.doWith(ts.token, "GET", "/scim/v2/Users/"+id, "", map[string]string{"If-None-Match": `W/"2"`}).expect(t, http.StatusNotModified)
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	spc := ts.do("GET", "/scim/v2/ServiceProviderConfig", "").expect(t, http.StatusOK).json(t)
	if spc["patch"].(map[string]any)["supported"] != true || spc["bulk"].(map[string]any)["supported"] != false {
		t.Errorf("ServiceProviderConfig = %v", spc)
	}
	types := ts.do("GET", "/scim/v2/ResourceTypes", "").expect(t, http.StatusOK).json(t)
	if types["totalResults"] != 2.0 {
		t.Errorf("ResourceTypes = %v", types)
	}
	ts.do("GET", "/scim/v2/ResourceTypes/User", "").expect(t, http.StatusOK)
	schemas := ts.do("GET", "/scim/v2/Schemas", "").expect(t, http.StatusOK).json(t)
	if schemas["totalResults"] != 3.0 {
		t.Errorf("Schemas = %v", schemas["totalResults"])
	}
	ts.do("GET", "/scim/v2/Schemas/"+enterpriseSchema, "").expect(t, http.StatusOK)
	ts.do("GET", "/scim/v2/Schemas/urn:nope", "").expect(t, http.StatusNotFound)
	ts.do("DELETE", "/scim/v2/ServiceProviderConfig", "").expect(t, http.StatusNotFound)
	ts.do("PUT", "/scim/v2/Users", "{}").expect(t, http.StatusMethodNotAllowed)
}

// TestConcurrentPatchesAllApply checks that PATCH requests without
// If-Match that race on one user all succeed and all their changes are
// kept, however often the optimistic write loses.
func TestConcurrentPatchesAllApply(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"busy@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)

	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			patch := fmt.Sprintf(`{"Operations":[{"op":"add","path":"phoneNumbers","value":[{"value":"+1 555 %04d"}]}]}`, i)
			if got := ts.do("PATCH", "/scim/v2/Users/"+id, patch); got.status != http.StatusOK {
				t.Errorf("PATCH %d: status %d, want 200; body %s", i, got.status, got.body)
			}
		})
	}
	wg.Wait()

	user := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t)
	if phones, _ := user["phoneNumbers"].([]any); len(phones) != n {
		t.Errorf("user has %d phone numbers, want %d", len(phones), n)
	}
	if want := fmt.Sprintf(`W/"%d"`, n+1); user["meta"].(map[string]any)["version"] != want {
		t.Errorf("version = %v, want %s", user["meta"].(map[string]any)["version"], want)
	}
}

// TestConcurrentCreateOrLink checks that concurrent creates of one
// userName in different case give exactly one 201 and 409 uniqueness for
// the rest. It covers both create paths, since the autoprovision one runs
// in a transaction, for a new user and for an unmanaged user to link.
// Autoprovision queues one set-up mail for a new user only.
func TestConcurrentCreateOrLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		autoprovision bool
		existing      bool
		wantMails     int
	}{
		{name: "new user", wantMails: 0},
		{name: "new user with autoprovision", autoprovision: true, wantMails: 1},
		{name: "link", existing: true, wantMails: 0},
		{name: "link with autoprovision", autoprovision: true, existing: true, wantMails: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, tenants.Settings{Autoprovision: tt.autoprovision})
			if tt.existing {
				if _, err := ts.db.Exec(`INSERT INTO users (tenant_id, user_name) VALUES ($1, 'Race.User@example.com')`, ts.tenant.ID); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			statuses := make(chan response, 12)
			for i := range 12 {
				wg.Go(func() {
					name := "Race.User@example.com"
					if i%2 == 1 {
						name = strings.ToUpper(name)
					}
					statuses <- ts.do("POST", "/scim/v2/Users", `{"userName":"`+name+`","emails":[{"value":"race.user@example.com"}]}`)
				})
			}
			wg.Wait()
			close(statuses)
			counts := map[int]int{}
			for r := range statuses {
				counts[r.status]++
				if r.status == http.StatusConflict && r.json(t)["scimType"] != uniqueness {
					t.Errorf("409 body = %s, want scimType uniqueness", r.body)
				}
			}
			if counts[http.StatusCreated] != 1 || counts[http.StatusConflict] != 11 {
				t.Errorf("statuses = %v, want one 201 and eleven 409", counts)
			}
			var users, mails int
			ts.db.Get(&users, `SELECT count(*) FROM users WHERE tenant_id = $1`, ts.tenant.ID)
			ts.db.Get(&mails, `SELECT count(*) FROM outbox`)
			if users != 1 || mails != tt.wantMails {
				t.Errorf("%d users and %d set-up mails, want 1 and %d", users, mails, tt.wantMails)
			}
		})
	}
}
