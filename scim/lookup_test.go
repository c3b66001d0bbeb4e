package scim

import (
	"net/http"
	"slices"
	"testing"
)

func TestMatchesAtMostOne(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rt     *resourceType
		filter string
		want   bool
	}{
		{userType, `userName eq "ann@example.com"`, true},
		{userType, `USERNAME Eq "ann@example.com"`, true},
		{userType, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann@example.com"`, true},
		{userType, `id eq "00000000-0000-4000-8000-000000000000"`, true},
		{groupType, `displayName eq "Kitchen"`, true},
		{userType, `displayName eq "Ann"`, false},
		{userType, `externalId eq "ext-1"`, false},
		{userType, `userName ne "ann@example.com"`, false},
		{userType, `userName sw "ann"`, false},
		{userType, `userName eq "a" or userName eq "b"`, false},
		{userType, `not (userName eq "a")`, false},
		{userType, `emails[value eq "a"]`, false},
		{userType, `emails.value eq "a"`, false},
		{userType, `userName pr`, false},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.filter)
		if err != nil {
			t.Fatalf("parseFilter(%q): %v", tt.filter, err)
		}
		if got := matchesAtMostOne(tt.rt, f); got != tt.want {
			t.Errorf("matchesAtMostOne(%s, %q) = %v, want %v", tt.rt.Name, tt.filter, got, tt.want)
		}
	}
}

// TestUniqueLookupPages checks paging on a filter that matches one
// resource at most, which list runs without counting or paging in SQL.
func TestUniqueLookupPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	old := ts.do("POST", "/scim/v2/Users", `{"userName":"dee@example.com","displayName":"Old"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("DELETE", "/scim/v2/Users/"+old, "").expect(t, http.StatusNoContent)
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"Dee@Example.com","displayName":"New"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Kitchen"}`).expect(t, http.StatusCreated)

	tests := []struct {
		name      string
		path      string
		wantTotal float64
		wantItems int
	}{
		{"userName in another case", "/scim/v2/Users?filter=" + q(`userName eq "DEE@example.com"`), 1, 1},
		{"id", "/scim/v2/Users?filter=" + q(`id eq "`+id+`"`), 1, 1},
		{"deleted user's id", "/scim/v2/Users?filter=" + q(`id eq "`+old+`"`), 0, 0},
		{"no match", "/scim/v2/Users?filter=" + q(`userName eq "nobody@example.com"`), 0, 0},
		{"startIndex past the match", "/scim/v2/Users?startIndex=2&filter=" + q(`userName eq "dee@example.com"`), 1, 0},
		{"largest startIndex", "/scim/v2/Users?startIndex=9223372036854775807&filter=" + q(`userName eq "dee@example.com"`), 1, 0},
		{"count zero", "/scim/v2/Users?count=0&filter=" + q(`userName eq "dee@example.com"`), 1, 0},
		{"group displayName", "/scim/v2/Groups?filter=" + q(`displayName eq "kitchen"`), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := ts.do("GET", tt.path, "").expect(t, http.StatusOK).json(t)
			items := list["Resources"].([]any)
			if list["totalResults"] != tt.wantTotal || len(items) != tt.wantItems || list["itemsPerPage"] != float64(tt.wantItems) {
				t.Errorf("totalResults %v, itemsPerPage %v, %d resources; want %v, %d, %d",
					list["totalResults"], list["itemsPerPage"], len(items), tt.wantTotal, tt.wantItems, tt.wantItems)
			}
			if tt.wantItems == 1 && items[0].(map[string]any)["meta"] == nil {
				t.Errorf("resource without meta: %v", items[0])
			}
		})
	}
}

// TestGroupMemberFilter checks the filters an IdP sends to find the groups
// a user belongs to.
func TestGroupMemberFilter(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	ann := ts.do("POST", "/scim/v2/Users", `{"userName":"ann@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	bob := ts.do("POST", "/scim/v2/Users", `{"userName":"bob@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	cy := ts.do("POST", "/scim/v2/Users", `{"userName":"cy@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Kitchen","members":[{"value":"`+ann+`"},{"value":"`+bob+`"}]}`).expect(t, http.StatusCreated)
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Front of house","members":[{"value":"`+bob+`"}]}`).expect(t, http.StatusCreated)

	tests := []struct {
		filter string
		want   []string
	}{
		{`members.value eq "` + ann + `"`, []string{"Kitchen"}},
		{`members[value eq "` + bob + `"]`, []string{"Front of house", "Kitchen"}},
		{`members.value eq "` + cy + `"`, nil},
		{`members.value eq "` + ann + `" and displayName eq "Front of house"`, nil},
		{`members pr`, []string{"Front of house", "Kitchen"}},
		{`not (members.value eq "` + ann + `")`, []string{"Front of house"}},
	}
	for _, tt := range tests {
		list := ts.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+q(tt.filter), "").expect(t, http.StatusOK).json(t)
		var got []string
		for _, r := range list["Resources"].([]any) {
			got = append(got, r.(map[string]any)["displayName"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("filter %s: groups %q, want %q", tt.filter, got, tt.want)
		}
	}
}

// TestUserGroupFilter checks filters on the groups a user belongs to.
func TestUserGroupFilter(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	ids := map[string]string{}
	for _, name := range []string{"ann", "bob", "cy"} {
		ids[name] = ts.do("POST", "/scim/v2/Users", `{"userName":"`+name+`@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	}
	kitchen := ts.do("POST", "/scim/v2/Groups", `{"displayName":"Kitchen","members":[{"value":"`+ids["ann"]+`"},{"value":"`+ids["bob"]+`"}]}`).
		expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Front of house","members":[{"value":"`+ids["bob"]+`"}]}`).expect(t, http.StatusCreated)

	tests := []struct {
		filter string
		want   []string
	}{
		{`groups.value eq "` + kitchen + `"`, []string{"ann@example.com", "bob@example.com"}},
		{`groups[display eq "front of house"]`, []string{"bob@example.com"}},
		{`groups pr`, []string{"ann@example.com", "bob@example.com"}},
		{`not (groups pr)`, []string{"cy@example.com"}},
		{`groups[value eq "` + kitchen + `" and display eq "Front of house"]`, nil},
		{`groups.type eq "direct" and userName sw "a"`, []string{"ann@example.com"}},
	}
	for _, tt := range tests {
		list := ts.do("GET", "/scim/v2/Users?attributes=userName&filter="+q(tt.filter), "").expect(t, http.StatusOK).json(t)
		var got []string
		for _, r := range list["Resources"].([]any) {
			got = append(got, r.(map[string]any)["userName"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("filter %s: users %q, want %q", tt.filter, got, tt.want)
		}
	}

	bad := ts.do("GET", "/scim/v2/Users?filter="+q(`groups.$ref eq "x"`), "").expect(t, http.StatusBadRequest).json(t)
	if bad["scimType"] != "invalidFilter" {
		t.Errorf("filter on groups.$ref: scimType %v, want invalidFilter", bad["scimType"])
	}
}
