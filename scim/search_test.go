package scim

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSearchMatchesList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	for _, name := range []string{"ann", "bob", "cy", "dee"} {
		ts.do("POST", "/scim/v2/Users", `{"userName":"`+name+`@example.com","displayName":"`+name+`"}`).expect(t, http.StatusCreated)
	}
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Kitchen"}`).expect(t, http.StatusCreated)

	tests := []struct {
		name, search, list string
	}{
		{"filter and page", `{"schemas":["` + searchSchema + `"],"filter":"userName sw \"b\" or userName sw \"c\"","startIndex":2,"count":1}`,
			"/scim/v2/Users?startIndex=2&count=1&filter=" + q(`userName sw "b" or userName sw "c"`)},
		{"attributes", `{"attributes":["userName","displayName"],"count":10}`, "/scim/v2/Users?count=10&attributes=userName,displayName"},
		{"excluded attributes", `{"excludedAttributes":["groups","meta"]}`, "/scim/v2/Users?excludedAttributes=groups,meta"},
		{"sortBy is ignored", `{"sortBy":"userName","sortOrder":"descending","count":2}`, "/scim/v2/Users?count=2"},
		{"no match", `{"filter":"userName eq \"nobody@example.com\""}`, "/scim/v2/Users?filter=" + q(`userName eq "nobody@example.com"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ts.do("POST", "/scim/v2/Users/.search", tt.search).expect(t, http.StatusOK).json(t)
			want := ts.do("GET", tt.list, "").expect(t, http.StatusOK).json(t)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("search response (-GET +search):\n%s", diff)
			}
		})
	}

	groups := ts.do("POST", "/scim/v2/Groups/.search", `{"filter":"displayName eq \"kitchen\"","excludedAttributes":["members"]}`).
		expect(t, http.StatusOK).json(t)
	if groups["totalResults"] != float64(1) {
		t.Errorf("group search totalResults = %v, want 1", groups["totalResults"])
	}
}

func TestSearchErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	tests := []struct {
		name, path, body string
		status           int
		scimType         string
	}{
		{"wrong schema", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, http.StatusBadRequest, "invalidSyntax"},
		{"malformed filter", "/scim/v2/Users/.search", `{"filter":"userName eq"}`, http.StatusBadRequest, "invalidFilter"},
		{"count as text", "/scim/v2/Users/.search", `{"count":"ten"}`, http.StatusBadRequest, "invalidValue"},
		{"not JSON", "/scim/v2/Users/.search", `filter=userName`, http.StatusBadRequest, "invalidSyntax"},
		{"all resource types", "/scim/v2/.search", `{"filter":"userName eq \"a\""}`, http.StatusNotImplemented, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ts.do("POST", tt.path, tt.body).expect(t, tt.status).json(t)
			if got, _ := body["scimType"].(string); got != tt.scimType {
				t.Errorf("scimType %q, want %q (body %v)", got, tt.scimType, body)
			}
		})
	}
}
