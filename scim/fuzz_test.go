package scim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// fuzzServer returns a handler with one tenant, its token and one user.
func fuzzServer(f *testing.F) (http.Handler, string, string) {
	db := pgtest.New(f)
	srv, err := New(Config{DB: db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close(context.Background()) })
	store := tenants.NewStore(db)
	tenant, err := store.Create(context.Background(), tenants.Tenant{Slug: "fuzz", Name: "Fuzz", Product: tenants.MealProgram, Settings: tenants.Settings{SCIM: true}})
	if err != nil {
		f.Fatal(err)
	}
	token, _, err := store.IssueToken(context.Background(), tenant.ID)
	if err != nil {
		f.Fatal(err)
	}
	rec := serve(srv.Handler(), token.Reveal(), "POST", "/scim/v2/Users", `{"userName":"fuzz@example.com","emails":[{"value":"fuzz@example.com","type":"work"}]}`)
	if rec.Code != http.StatusCreated {
		f.Fatalf("create user: %d %s", rec.Code, rec.Body)
	}
	id := decodeID(rec.Body.String())
	return srv.Handler(), token.Reveal(), id
}

func serve(h http.Handler, token, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://gatehouse.example.com/", strings.NewReader(body))
	req.URL.Path, req.URL.RawQuery, _ = strings.Cut(target, "?")
	req.RequestURI = target
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeID(body string) string {
	_, rest, _ := strings.Cut(body, `"id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// FuzzFilter sends arbitrary filters to the Users and Groups lists: the
// parser must not panic and every filter must get 200 or 400, never 500.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		`userName eq "a"`, `emails[type eq "work" and value co "@x"].value eq "y"`, `not (active eq true) or meta.lastModified gt "2024-01-01T00:00:00Z"`,
		`members[value eq "0c8e3a10-6d2c-4b8f-9b0a-3f6a1c2d4e5f"]`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr`,
		`userName eq "\u00e9\"\\"`, `((a eq 1))`, `x[`, `"`, `id ne null`, `displayName gt 5e10`,
	} {
		f.Add(seed)
	}
	h, token, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, filter string) {
		if e, err := parseFilter(filter); err == nil {
			for _, rt := range []*resourceType{userType, groupType} {
				b := &sqlBuilder{rt: rt, args: []any{"t", "k"}}
				b.where(e)
			}
		}
		for _, path := range []string{"/scim/v2/Users", "/scim/v2/Groups"} {
			rec := serve(h, token, "GET", path+"?filter="+url.QueryEscape(filter), "")
			if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
				t.Errorf("filter %q on %s: status %d: %s", filter, path, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzPatch sends arbitrary PATCH operations to a user: the applier must
// not panic and no request may get a 5xx.
func FuzzPatch(f *testing.F) {
	for _, seed := range []struct{ op, path, value string }{
		{"replace", "", `{"active":"False"}`},
		{"add", `emails[type eq "home"].value`, `"h@example.com"`},
		{"remove", `emails[value eq "fuzz@example.com"]`, ``},
		{"Replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", `"m"`},
		{"add", "", `{"name.givenName":"A","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":7}}`},
		{"replace", "userName", `""`},
		{"remove", "members", `[{"value":"x"}]`},
		{"add", "phoneNumbers", `[{"value":"1","primary":"True"},{"value":"2","primary":true}]`},
	} {
		f.Add(seed.op, seed.path, seed.value)
	}
	h, token, id := fuzzServer(f)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		opJSON := `{"op":` + quote(op) + `,"path":` + quote(path)
		if value != "" {
			opJSON += `,"value":` + value
		}
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + opJSON + `}]}`
		for _, target := range []string{"/scim/v2/Users/" + id} {
			rec := serve(h, token, "PATCH", target, body)
			if rec.Code >= 500 {
				t.Errorf("PATCH %s: status %d: %s", body, rec.Code, rec.Body)
			}
		}
	})
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
