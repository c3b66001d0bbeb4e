package scim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Okta's SCIM 2.0 provisioning sequence, with the request bodies of its
// public SCIM 2.0 integration guide, against a live server on port 0.
func TestOktaSequence(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())

	list := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "test.user@okta.local"`)+"&startIndex=1&count=100", "").expect(t, http.StatusOK).json(t)
	if diff := cmp.Diff(map[string]any{
		"schemas": []any{listSchema}, "totalResults": 0.0, "startIndex": 1.0, "itemsPerPage": 0.0, "Resources": []any{},
	}, list); diff != "" {
		t.Errorf("empty lookup (-want +got):\n%s", diff)
	}

	created := ts.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`).expect(t, http.StatusCreated)
	user := created.json(t)
	id := user["id"].(string)
	if got, want := created.header.Get("Location"), "https://gatehouse.example.com/scim/v2/Users/"+id; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got := created.header.Get("Content-Type"); got != "application/scim+json" {
		t.Errorf("Content-Type = %q", got)
	}
	if strings.Contains(string(created.body), "password") || strings.Contains(string(created.body), "1mz050nq") {
		t.Errorf("response contains the password: %s", created.body)
	}
	wantUser := map[string]any{
		"schemas": []any{userSchema}, "id": id, "externalId": "00ujl29u0le5T6Aj10h7", "userName": "test.user@okta.local",
		"name": map[string]any{"givenName": "Test", "familyName": "User"}, "displayName": "Test User", "locale": "en-US",
		"active": true, "emails": []any{map[string]any{"primary": true, "value": "test.user@okta.local", "type": "work"}},
	}
	if diff := cmp.Diff(wantUser, withoutMeta(user)); diff != "" {
		t.Errorf("created user (-want +got):\n%s", diff)
	}
	if got := created.header.Get("ETag"); got != `W/"1"` || user["meta"].(map[string]any)["version"] != `W/"1"` {
		t.Errorf("ETag = %q, meta = %v; want W/\"1\" in both", got, user["meta"])
	}

	got := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t)
	if diff := cmp.Diff(wantUser, withoutMeta(got)); diff != "" {
		t.Errorf("GET user (-want +got):\n%s", diff)
	}
	found := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "test.user@okta.local"`)+"&startIndex=1&count=100", "").expect(t, http.StatusOK).json(t)
	if found["totalResults"] != 1.0 || found["itemsPerPage"] != 1.0 {
		t.Errorf("lookup after create = %v", found)
	}

	put := ts.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`","userName":"test.user@okta.local","name":{"givenName":"Another","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],"displayName":"Another User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"active":true}`).expect(t, http.StatusOK).json(t)
	if put["name"].(map[string]any)["givenName"] != "Another" || put["displayName"] != "Another User" {
		t.Errorf("PUT did not overwrite the name: %v", put)
	}

	patched := ts.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).expect(t, http.StatusOK).json(t)
	if patched["active"] != false {
		t.Errorf("PATCH active false gave %v", patched["active"])
	}
	if got := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t); got["active"] != false {
		t.Errorf("GET after deactivation: active = %v", got["active"])
	}
	ts.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"password":"a new password of okta"}}]}`).expect(t, http.StatusOK)
	var hash *string
	if err := ts.db.Get(&hash, `SELECT password_hash FROM users WHERE id = $1`, id); err != nil || hash == nil || !strings.HasPrefix(*hash, "$argon2id$") {
		t.Errorf("password_hash after password PATCH = %v, %v", hash, err)
	}
	ts.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`).expect(t, http.StatusOK)

	// Group push.
	group := ts.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`).expect(t, http.StatusCreated).json(t)
	gid := group["id"].(string)
	lookup := ts.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "Test SCIMv2"`)+"&startIndex=1&count=100", "").expect(t, http.StatusOK).json(t)
	if lookup["totalResults"] != 1.0 {
		t.Errorf("group lookup = %v", lookup)
	}
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"}]}]}`).expect(t, http.StatusNoContent)
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv2 renamed"}}]}`).expect(t, http.StatusNoContent)
	g := ts.do("GET", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusOK).json(t)
	if g["displayName"] != "Test SCIMv2 renamed" || len(g["members"].([]any)) != 1 {
		t.Errorf("group after rename = %v; want the new name and its member kept", g)
	}
	u := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t)
	if groups, _ := u["groups"].([]any); len(groups) != 1 {
		t.Errorf("user groups = %v, want the pushed group", u["groups"])
	}
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+id+`\"]"}]}`).expect(t, http.StatusNoContent)
	g = ts.do("GET", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusOK).json(t)
	if len(g["members"].([]any)) != 0 {
		t.Errorf("members after remove = %v", g["members"])
	}
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"}]}]}`).expect(t, http.StatusNoContent)
	ts.do("DELETE", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusNoContent)
	ts.do("GET", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusNotFound)
}

func withoutMeta(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "meta" {
			out[k] = v
		}
	}
	return out
}
