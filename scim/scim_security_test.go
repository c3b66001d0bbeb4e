package scim

import (
	"net/http"
	"testing"
)

// TestUnstorableTextRejected checks that a null character, which JSON
// allows as \u0000 and PostgreSQL cannot store, gets a SCIM 400 with
// invalidValue instead of a 500, wherever the IdP sends it.
func TestUnstorableTextRejected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	user := ts.do("POST", "/scim/v2/Users", `{"userName":"nul@example.com"}`).expect(t, http.StatusCreated).json(t)
	group := ts.do("POST", "/scim/v2/Groups", `{"displayName":"Nul"}`).expect(t, http.StatusCreated).json(t)
	userPath, groupPath := "/scim/v2/Users/"+user["id"].(string), "/scim/v2/Groups/"+group["id"].(string)

	tests := []struct {
		name, method, path, body string
	}{
		{"userName on create", "POST", "/scim/v2/Users", `{"userName":"a\u0000b@example.com"}`},
		{"attribute on create", "POST", "/scim/v2/Users", `{"userName":"t@example.com","title":"a\u0000b"}`},
		{"externalId on create", "POST", "/scim/v2/Users", `{"userName":"e@example.com","externalId":"\u0000"}`},
		{"userName on replace", "PUT", userPath, `{"userName":"a\u0000b@example.com"}`},
		{"attribute on patch", "PATCH", userPath, `{"Operations":[{"op":"replace","path":"title","value":"a\u0000b"}]}`},
		{"group displayName on create", "POST", "/scim/v2/Groups", `{"displayName":"g\u0000"}`},
		{"group displayName on patch", "PATCH", groupPath, `{"Operations":[{"op":"replace","path":"displayName","value":"g\u0000"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ts.do(tt.method, tt.path, tt.body).expect(t, http.StatusBadRequest).json(t)
			if got["scimType"] != invalidValue {
				t.Errorf("scimType = %v, want %s; body %v", got["scimType"], invalidValue, got)
			}
		})
	}

	t.Run("filter value", func(t *testing.T) {
		got := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "a\u0000b"`), "").expect(t, http.StatusBadRequest).json(t)
		if got["schemas"] == nil || got["status"] != "400" {
			t.Errorf("error body = %v, want a SCIM error", got)
		}
	})
}

// TestFilterTimeOffsets checks that a dateTime with any offset RFC 3339
// allows, up to 23:59, filters instead of failing in PostgreSQL, which
// rejects offsets of 16 hours and more.
func TestFilterTimeOffsets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	ts.do("POST", "/scim/v2/Users", `{"userName":"when@example.com"}`).expect(t, http.StatusCreated)
	tests := []struct {
		filter string
		total  float64
	}{
		{`meta.created gt "2000-01-01T00:00:00+23:59"`, 1},
		{`meta.created lt "2000-01-01T00:00:00-23:59"`, 0},
		{`meta.lastModified ge "0000-01-01T00:00:00+01:00"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			got := ts.do("GET", "/scim/v2/Users?filter="+q(tt.filter), "").expect(t, http.StatusOK).json(t)
			if got["totalResults"] != tt.total {
				t.Errorf("totalResults = %v, want %v", got["totalResults"], tt.total)
			}
		})
	}
}
