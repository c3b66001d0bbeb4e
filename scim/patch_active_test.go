package scim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestActiveOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ops        string
		wantActive bool
		wantOK     bool
	}{
		{name: "Okta deactivation", ops: `[{"op":"replace","value":{"active":false}}]`, wantActive: false, wantOK: true},
		{name: "Okta reactivation", ops: `[{"op":"replace","value":{"active":true}}]`, wantActive: true, wantOK: true},
		{name: "Entra ID string value", ops: `[{"op":"Replace","path":"active","value":"False"}]`, wantActive: false, wantOK: true},
		{name: "path in another case", ops: `[{"op":"replace","path":" Active ","value":true}]`, wantActive: true, wantOK: true},
		{name: "add sets a singular attribute", ops: `[{"op":"add","path":"active","value":false}]`, wantActive: false, wantOK: true},
		{name: "key in another case", ops: `[{"op":"replace","value":{"ACTIVE":"TRUE"}}]`, wantActive: true, wantOK: true},
		{name: "last operation wins", ops: `[{"op":"replace","path":"active","value":false},{"op":"replace","value":{"active":true}}]`, wantActive: true, wantOK: true},
		{name: "null value", ops: `[{"op":"replace","path":"active","value":null}]`},
		{name: "missing value", ops: `[{"op":"replace","path":"active"}]`},
		{name: "value that is not a boolean", ops: `[{"op":"replace","path":"active","value":"maybe"}]`},
		{name: "remove", ops: `[{"op":"remove","path":"active"}]`},
		{name: "another attribute", ops: `[{"op":"replace","path":"displayName","value":"X"}]`},
		{name: "another key beside active", ops: `[{"op":"replace","value":{"active":false,"displayName":"X"}}]`},
		{name: "URN-qualified path", ops: `[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":false}]`},
		{name: "one other operation", ops: `[{"op":"replace","path":"active","value":false},{"op":"replace","path":"title","value":"X"}]`},
		{name: "unknown operation", ops: `[{"op":"move","path":"active","value":true}]`},
		{name: "no operations", ops: `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ops []patchOperation
			if err := json.Unmarshal([]byte(tt.ops), &ops); err != nil {
				t.Fatal(err)
			}
			active, ok := activeOnly(ops)
			if ok != tt.wantOK || ok && active != tt.wantActive {
				t.Errorf("activeOnly = %v, %v; want %v, %v", active, ok, tt.wantActive, tt.wantOK)
			}
		})
	}
}

// TestPatchActiveMatchesGeneralPath checks that a PATCH that only sets
// active returns the same resource as the general applier, which handles
// a PATCH that also sets another attribute to the value it has.
func TestPatchActiveMatchesGeneralPath(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	const attrs = `"name":{"givenName":"Ari","familyName":"Lee","middleName":"Q"},"displayName":"Ari Lee",
		"emails":[{"value":"ari@work.example","type":"work","primary":true},{"value":"ari@home.example","type":"home"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":{"value":"m-1"}}`
	fast := ts.do("POST", "/scim/v2/Users", `{"userName":"fast@example.com",`+attrs+`}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	general := ts.do("POST", "/scim/v2/Users", `{"userName":"general@example.com",`+attrs+`}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("POST", "/scim/v2/Groups", `{"displayName":"Kitchen","members":[{"value":"`+fast+`"},{"value":"`+general+`"}]}`).expect(t, http.StatusCreated)

	gotFast := ts.do("PATCH", "/scim/v2/Users/"+fast, `{"Operations":[{"op":"replace","value":{"active":false}}]}`).expect(t, http.StatusOK)
	gotGeneral := ts.do("PATCH", "/scim/v2/Users/"+general,
		`{"Operations":[{"op":"replace","value":{"active":false}},{"op":"replace","path":"displayName","value":"Ari Lee"}]}`).expect(t, http.StatusOK)
	if gotFast.header.Get("ETag") != `W/"2"` || gotGeneral.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETags = %q and %q, want both W/\"2\"", gotFast.header.Get("ETag"), gotGeneral.header.Get("ETag"))
	}
	if diff := cmp.Diff(withoutIdentity(t, gotGeneral.json(t)), withoutIdentity(t, gotFast.json(t))); diff != "" {
		t.Errorf("active-only PATCH (-general path +active-only path):\n%s", diff)
	}
	if diff := cmp.Diff(gotFast.json(t), ts.do("GET", "/scim/v2/Users/"+fast, "").expect(t, http.StatusOK).json(t)); diff != "" {
		t.Errorf("GET after PATCH (-PATCH response +GET):\n%s", diff)
	}
}

// withoutIdentity drops what differs between two users by design: id,
// userName, the group values and meta's location and times.
func withoutIdentity(t *testing.T, u map[string]any) map[string]any {
	t.Helper()
	for _, key := range []string{"id", "userName"} {
		delete(u, key)
	}
	m := u["meta"].(map[string]any)
	for _, key := range []string{"location", "created", "lastModified"} {
		delete(m, key)
	}
	for _, g := range u["groups"].([]any) {
		delete(g.(map[string]any), "$ref")
		delete(g.(map[string]any), "value")
	}
	return u
}

func TestPatchActive(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	id := ts.do("POST", "/scim/v2/Users", `{"userName":"flip@example.com"}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	deactivate := `{"Operations":[{"op":"replace","path":"active","value":false}]}`
	reactivate := `{"Operations":[{"op":"replace","value":{"active":true}}]}`
	version := func(r response) string { return r.header.Get("ETag") }

	first := ts.do("PATCH", "/scim/v2/Users/"+id, deactivate).expect(t, http.StatusOK)
	if got := first.json(t); got["active"] != false || version(first) != `W/"2"` || got["meta"].(map[string]any)["version"] != `W/"2"` {
		t.Errorf("deactivation = %v, ETag %s; want active false at version 2", got, version(first))
	}
	if again := ts.do("PATCH", "/scim/v2/Users/"+id, deactivate).expect(t, http.StatusOK); version(again) != `W/"2"` {
		t.Errorf("ETag after deactivating an inactive user = %s, want W/\"2\" unchanged", version(again))
	}

	stale := ts.doWith(ts.token, "PATCH", "/scim/v2/Users/"+id, reactivate, map[string]string{"If-Match": `W/"1"`}).expect(t, http.StatusPreconditionFailed)
	if detail := stale.json(t)["detail"]; detail != `If-Match does not match the resource's version, W/"2".` {
		t.Errorf("412 detail = %v", detail)
	}
	if got := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t); got["active"] != false {
		t.Errorf("a PATCH with a stale If-Match changed active to %v", got["active"])
	}
	matched := ts.doWith(ts.token, "PATCH", "/scim/v2/Users/"+id+"?attributes=active", reactivate, map[string]string{"If-Match": `W/"2"`}).expect(t, http.StatusOK)
	want := map[string]any{"schemas": []any{userSchema}, "id": id, "active": true}
	if diff := cmp.Diff(want, matched.json(t)); diff != "" || version(matched) != `W/"3"` {
		t.Errorf("reactivation with If-Match: ETag %s, body (-want +got):\n%s", version(matched), diff)
	}

	ts.do("PATCH", "/scim/v2/Users/00000000-0000-4000-8000-000000000000", deactivate).expect(t, http.StatusNotFound)
	ts.do("DELETE", "/scim/v2/Users/"+id, "").expect(t, http.StatusNoContent)
	ts.do("PATCH", "/scim/v2/Users/"+id, deactivate).expect(t, http.StatusNotFound)
}

// TestPatchActiveLinksUnmanagedUser checks that deactivating a user whom
// SCIM does not manage yet links them, as any other PATCH does.
func TestPatchActiveLinksUnmanagedUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	var id string
	if err := ts.db.Get(&id, `INSERT INTO users (tenant_id, user_name, email) VALUES ($1, 'old@example.com', 'old@example.com') RETURNING id`, ts.tenant.ID); err != nil {
		t.Fatal(err)
	}
	ts.do("PATCH", "/scim/v2/Users/"+id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`).expect(t, http.StatusOK)
	var managed, active bool
	if err := ts.db.QueryRow(`SELECT scim_managed, active FROM users WHERE id = $1`, id).Scan(&managed, &active); err != nil {
		t.Fatal(err)
	}
	if !managed || active {
		t.Errorf("after PATCH: scim_managed %v, active %v; want true, false", managed, active)
	}
}
