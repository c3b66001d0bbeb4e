package scim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilterParseErrors(t *testing.T) {
	t.Parallel()
	for _, f := range []string{
		`userName`, `userName eq`, `userName xx "a"`, `userName eq "a" or`, `(userName eq "a"`,
		`userName eq 'a'`, `emails[type eq "work"`, `emails[type[value eq "a"] eq "x"]`, `not userName eq "a"`,
		`userName eq "a\q"`, `userName eq 01`, `1userName eq "a"`, `userName eq "a" junk`, strings.Repeat("(", 40) + `a pr` + strings.Repeat(")", 40),
	} {
		if _, err := parseFilter(f); err == nil {
			t.Errorf("parseFilter(%q) succeeded, want an error", f)
		}
	}
}

func TestFilterSelectsUsers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	for _, body := range []string{
		`{"userName":"ann@example.com","externalId":"ext-1","displayName":"Ann Lee","name":{"givenName":"Ann","familyName":"Lee"},"title":"Chef","emails":[{"value":"ann@example.com","type":"work","primary":true},{"value":"ann@home.example","type":"home"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Kitchen","employeeNumber":"7"}}`,
		`{"userName":"Bob@Example.com","externalId":"EXT-1","displayName":"Bob Ng","name":{"givenName":"Bob","familyName":"Ng"},"active":false,"emails":[{"value":"bob@example.com","type":"work"}]}`,
		`{"userName":"cy@other.example","displayName":"Cy","phoneNumbers":[{"value":"+1 555 0100","type":"mobile"}]}`,
	} {
		ts.do("POST", "/scim/v2/Users", body).expect(t, http.StatusCreated)
	}

	tests := []struct {
		filter string
		want   []string
	}{
		{`userName eq "ANN@example.com"`, []string{"ann@example.com"}},
		{`UserName Eq "bob@example.com"`, []string{"Bob@Example.com"}},
		{`externalId eq "ext-1"`, []string{"ann@example.com"}},
		{`externalId eq "EXT-1"`, []string{"Bob@Example.com"}},
		{`userName sw "b"`, []string{"Bob@Example.com"}},
		{`userName ew "example.com"`, []string{"Bob@Example.com", "ann@example.com"}},
		{`userName co "OTHER"`, []string{"cy@other.example"}},
		{`userName ne "ann@example.com"`, []string{"Bob@Example.com", "cy@other.example"}},
		{`active eq false`, []string{"Bob@Example.com"}},
		{`active eq true and displayName pr`, []string{"ann@example.com", "cy@other.example"}},
		{`name.givenName eq "ann" or name.familyName eq "NG"`, []string{"Bob@Example.com", "ann@example.com"}},
		{`not (userName sw "a") and emails pr`, []string{"Bob@Example.com"}},
		{`emails.value eq "ANN@HOME.EXAMPLE"`, []string{"ann@example.com"}},
		{`emails[type eq "work" and value co "bob"]`, []string{"Bob@Example.com"}},
		{`emails[type eq "home"].value eq "ann@home.example"`, []string{"ann@example.com"}},
		{`phoneNumbers[type eq "mobile"]`, []string{"cy@other.example"}},
		{`title eq "chef"`, []string{"ann@example.com"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "kitchen"`, []string{"ann@example.com"}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "cy@other.example"`, []string{"cy@other.example"}},
		{`meta.lastModified gt "2000-01-01T00:00:00Z"`, []string{"Bob@Example.com", "ann@example.com", "cy@other.example"}},
		{`meta.created lt "2000-01-01T00:00:00Z"`, nil},
		{`id eq "not-a-uuid"`, nil},
		{`userName eq "nobody@example.com"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			list := ts.do("GET", "/scim/v2/Users?filter="+q(tt.filter), "").expect(t, http.StatusOK).json(t)
			var got []string
			for _, r := range list["Resources"].([]any) {
				got = append(got, r.(map[string]any)["userName"].(string))
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if list["totalResults"] != float64(len(tt.want)) {
				t.Errorf("totalResults = %v, want %d", list["totalResults"], len(tt.want))
			}
		})
	}
}

func TestFilterInvalid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	for _, f := range []string{`bogus eq "x"`, `active gt true`, `active eq "yes"`, `userName eq 5`, `meta.created gt "yesterday"`, `password eq "x"`, `name eq "x"`, `userName eq "a`} {
		body := ts.do("GET", "/scim/v2/Users?filter="+q(f), "").expect(t, http.StatusBadRequest).json(t)
		if body["scimType"] != invalidFilter || body["status"] != "400" {
			t.Errorf("filter %q = %v, want 400 invalidFilter", f, body)
		}
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	for i := range 5 {
		ts.do("POST", "/scim/v2/Users", `{"userName":"p`+string(rune('a'+i))+`@example.com"}`).expect(t, http.StatusCreated)
	}
	seen := map[string]bool{}
	for start := 1; start <= 5; start += 2 {
		page := ts.do("GET", "/scim/v2/Users?startIndex="+strconv.Itoa(start)+"&count=2", "").expect(t, http.StatusOK).json(t)
		if page["totalResults"] != 5.0 || page["startIndex"] != float64(start) || page["itemsPerPage"] != float64(len(page["Resources"].([]any))) {
			t.Errorf("page at %d = %v", start, page)
		}
		for _, r := range page["Resources"].([]any) {
			seen[r.(map[string]any)["id"].(string)] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("pages returned %d distinct users, want 5", len(seen))
	}
	past := ts.do("GET", "/scim/v2/Users?startIndex=9", "").expect(t, http.StatusOK).json(t)
	if past["totalResults"] != 5.0 || past["itemsPerPage"] != 0.0 {
		t.Errorf("page past the end = %v", past)
	}
	onlyCount := ts.do("GET", "/scim/v2/Users?count=0", "").expect(t, http.StatusOK).json(t)
	if onlyCount["totalResults"] != 5.0 || len(onlyCount["Resources"].([]any)) != 0 {
		t.Errorf("count=0 = %v", onlyCount)
	}
	projected := ts.do("GET", "/scim/v2/Users?count=1&attributes=userName", "").expect(t, http.StatusOK).json(t)
	r := projected["Resources"].([]any)[0].(map[string]any)
	if _, ok := r["meta"]; ok || r["userName"] == nil || r["id"] == nil {
		t.Errorf("attributes=userName returned %v", r)
	}
	excluded := ts.do("GET", "/scim/v2/Users?count=1&excludedAttributes=active,id", "").expect(t, http.StatusOK).json(t)
	r = excluded["Resources"].([]any)[0].(map[string]any)
	if _, ok := r["active"]; ok || r["id"] == nil {
		t.Errorf("excludedAttributes=active,id returned %v; want id kept", r)
	}
}
