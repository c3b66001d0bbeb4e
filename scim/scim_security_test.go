package scim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// TestLargePatchIsLinear checks that one PATCH that adds or removes tens
// of thousands of group members, as fits in a 1 MiB body, takes time
// linear in their number. With a quadratic search it took minutes of CPU,
// so a few such requests from one tenant's token stalled the server for
// everyone.
func TestLargePatchIsLinear(t *testing.T) {
	t.Parallel()
	const n = 40000
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf(`{"value":"%08x-0000-4000-8000-000000000000"}`, i)
	}
	list := "[" + strings.Join(values, ",") + "]"
	tests := []struct {
		name string
		ops  string
		want int
	}{
		{"add to an empty group", `[{"op":"add","path":"members","value":` + list + `}]`, n},
		{"add the same members again", `[{"op":"add","path":"members","value":` + list + `},{"op":"add","path":"members","value":` + list + `}]`, n},
		{"remove every member", `[{"op":"add","path":"members","value":` + list + `},{"op":"remove","path":"members","value":` + list + `}]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := decodeMap(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"Big"}`)
			ops := decodePatchOps(t, tt.ops)
			done := make(chan error, 1)
			go func() { done <- applyPatch(groupType, doc, ops) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("applyPatch: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("applyPatch with %d members still runs after 20 s", n)
			}
			members, _ := doc["members"].([]any)
			if len(members) != tt.want {
				t.Errorf("members has %d values, want %d", len(members), tt.want)
			}
		})
	}
}

// TestUserValuesBounded checks that a user's multi-valued attributes are
// bounded, on create and on PATCH, so a stored user cannot make every
// later request on it slow.
func TestUserValuesBounded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	values := make([]string, maxUserValues+1)
	for i := range values {
		values[i] = fmt.Sprintf(`{"value":"+1 555 %07d"}`, i)
	}
	list := "[" + strings.Join(values, ",") + "]"

	ts.do("POST", "/scim/v2/Users", `{"userName":"many@example.com","phoneNumbers":`+list+`}`).expect(t, http.StatusBadRequest)
	created := ts.do("POST", "/scim/v2/Users", `{"userName":"many@example.com","phoneNumbers":[`+values[0]+`]}`).expect(t, http.StatusCreated).json(t)
	path := "/scim/v2/Users/" + created["id"].(string)
	ts.do("PATCH", path, `{"Operations":[{"op":"add","path":"phoneNumbers","value":`+list+`}]}`).expect(t, http.StatusBadRequest)
	ts.do("PATCH", path, `{"Operations":[{"op":"add","path":"phoneNumbers","value":[`+strings.Join(values[1:maxUserValues], ",")+`]}]}`).expect(t, http.StatusOK)
}

// TestPatchAddMatchesEqualFold checks that the indexed search for an
// existing value treats "value" the way the schema compares it.
func TestPatchAddMatchesEqualFold(t *testing.T) {
	t.Parallel()
	doc := decodeMap(t, `{"userName":"fold","emails":[{"value":"kate@example.com","type":"work"},{"value":"straße@example.com"}]}`)
	ops := decodePatchOps(t, `[{"op":"add","path":"emails","value":[
		{"value":"\u212Aate@EXAMPLE.com","type":"work","display":"Kelvin sign"},
		{"value":"kate@example.com","type":"home"},
		{"value":"STRAßE@example.com","display":"sharp s"}]}]`)
	if err := applyPatch(userType, doc, ops); err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, doc)["emails"]
	want := decodeMap(t, `{"emails":[
		{"value":"\u212Aate@EXAMPLE.com","type":"work","display":"Kelvin sign"},
		{"value":"STRAßE@example.com","display":"sharp s"},
		{"value":"kate@example.com","type":"home"}]}`)["emails"]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("emails after PATCH (-want +got):\n%s", diff)
	}
}

func decodePatchOps(t *testing.T, s string) []patchOperation {
	t.Helper()
	var req patchRequest
	if err := json.Unmarshal([]byte(`{"Operations":`+s+`}`), &req); err != nil {
		t.Fatalf("decode operations: %v", err)
	}
	return req.Operations
}

// TestIndexedValuesBounded checks that an externalId or email address too
// long for PostgreSQL's index entries gets a SCIM 400 instead of a 500
// from the insert, on create, replace and patch. The values are random
// hex, which PostgreSQL cannot compress to fit.
func TestIndexedValuesBounded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	user := ts.do("POST", "/scim/v2/Users", `{"userName":"long@example.com"}`).expect(t, http.StatusCreated).json(t)
	userPath := "/scim/v2/Users/" + user["id"].(string)
	long := randomHex(t, 8000)

	tests := []struct {
		name, method, path, body string
	}{
		{"externalId on create", "POST", "/scim/v2/Users", `{"userName":"a@example.com","externalId":"` + long + `"}`},
		{"primary email on create", "POST", "/scim/v2/Users", `{"userName":"b@example.com","emails":[{"value":"` + long + `","primary":true}]}`},
		{"other email on create", "POST", "/scim/v2/Users", `{"userName":"c@example.com","emails":[{"value":"c@example.com"},{"value":"` + long + `"}]}`},
		{"externalId on replace", "PUT", userPath, `{"userName":"long@example.com","externalId":"` + long + `"}`},
		{"email on patch", "PATCH", userPath, `{"Operations":[{"op":"add","path":"emails","value":[{"value":"` + long + `"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ts.do(tt.method, tt.path, tt.body).expect(t, http.StatusBadRequest).json(t)
			if got["scimType"] != invalidValue {
				t.Errorf("scimType = %v, want %s; body %v", got["scimType"], invalidValue, got)
			}
		})
	}

	t.Run("longest values of 4-byte characters", func(t *testing.T) {
		longest := strings.Repeat("😀", maxIndexedValueLength)
		ts.do("POST", "/scim/v2/Users", `{"userName":"d@example.com","externalId":"`+longest+`","emails":[{"value":"`+longest+`"}]}`).
			expect(t, http.StatusCreated)
	})
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
