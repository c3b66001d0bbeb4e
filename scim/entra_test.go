package scim

import (
	"net/http"
	"testing"
)

// Microsoft Entra ID's provisioning requests, with the bodies of its
// public "develop a SCIM endpoint" request and response examples.
func TestEntraSequence(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())

	created := ts.do("POST", "/scim/v2/Users", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
		"active": true,
		"emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
		"meta": {"resourceType": "User"},
		"name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles": []
	}`).expect(t, http.StatusCreated).json(t)
	id := created["id"].(string)

	byName := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`), "").expect(t, http.StatusOK).json(t)
	if byName["totalResults"] != 1.0 {
		t.Errorf("lookup by userName = %v", byName)
	}
	byExternal := ts.do("GET", "/scim/v2/Users?filter="+q(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), "").expect(t, http.StatusOK).json(t)
	if byExternal["totalResults"] != 1.0 {
		t.Errorf("lookup by externalId = %v", byExternal)
	}
	byEmail := ts.do("GET", "/scim/v2/Users?filter="+q(`emails[type eq "work"].value eq "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"`), "").expect(t, http.StatusOK).json(t)
	if byEmail["totalResults"] != 1.0 {
		t.Errorf("lookup by work email = %v", byEmail)
	}
	none := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "non-existent user"`), "").expect(t, http.StatusOK).json(t)
	if none["totalResults"] != 0.0 {
		t.Errorf("lookup of a missing user = %v", none)
	}

	patched := ts.do("PATCH", "/scim/v2/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [
			{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
			{"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
		]
	}`).expect(t, http.StatusOK).json(t)
	emails := patched["emails"].([]any)
	if len(emails) != 1 || emails[0].(map[string]any)["value"] != "updatedEmail@microsoft.com" || patched["name"].(map[string]any)["familyName"] != "updatedFamilyName" {
		t.Errorf("multi-valued update gave emails %v, name %v", emails, patched["name"])
	}

	renamed := ts.do("PATCH", "/scim/v2/Users/"+id, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}`).expect(t, http.StatusOK).json(t)
	if renamed["userName"] != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" {
		t.Errorf("userName after replace = %v", renamed["userName"])
	}

	enterprise := ts.do("PATCH", "/scim/v2/Users/"+id, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
		{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
		{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
		{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
	]}`).expect(t, http.StatusOK).json(t)
	ext, _ := enterprise[enterpriseSchema].(map[string]any)
	if ext == nil || ext["department"] != "Sales" || ext["manager"].(map[string]any)["value"] != "26118915-6090-4610-87e4-49d8ca9f808d" {
		t.Errorf("enterprise extension after PATCH = %v", enterprise[enterpriseSchema])
	}
	if phones, _ := enterprise["phoneNumbers"].([]any); len(phones) != 1 {
		t.Errorf("phoneNumbers after add on an empty filter = %v", enterprise["phoneNumbers"])
	}

	disabled := ts.do("PATCH", "/scim/v2/Users/"+id, `{"Operations": [{"op": "Replace", "path": "active", "value": "False"}], "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`).expect(t, http.StatusOK).json(t)
	if disabled["active"] != false {
		t.Errorf("active after \"False\" = %v", disabled["active"])
	}
	filtered := ts.do("GET", "/scim/v2/Users?filter="+q(`userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"`), "").expect(t, http.StatusOK).json(t)
	if filtered["totalResults"] != 1.0 || filtered["Resources"].([]any)[0].(map[string]any)["active"] != false {
		t.Errorf("a disabled user must still match filters with active false: %v", filtered)
	}

	// Groups.
	group := ts.do("POST", "/scim/v2/Groups", `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}}`).expect(t, http.StatusCreated).json(t)
	gid := group["id"].(string)
	noMembers := ts.do("GET", "/scim/v2/Groups/"+gid+"?excludedAttributes=members", "").expect(t, http.StatusOK).json(t)
	if _, ok := noMembers["members"]; ok {
		t.Errorf("excludedAttributes=members returned members: %v", noMembers)
	}
	byDisplay := ts.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+q(`displayName eq "displayName"`), "").expect(t, http.StatusOK).json(t)
	if byDisplay["totalResults"] != 1.0 {
		t.Errorf("group lookup = %v", byDisplay)
	}
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}`).expect(t, http.StatusNoContent)

	other := ts.do("POST", "/scim/v2/Users", `{"userName":"second@testuser.com","active":true}`).expect(t, http.StatusCreated).json(t)["id"].(string)
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "`+id+`"}, {"$ref": null, "value": "`+other+`"}]}]}`).expect(t, http.StatusNoContent)
	ts.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "`+id+`"}]}]}`).expect(t, http.StatusNoContent)
	g := ts.do("GET", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusOK).json(t)
	members := g["members"].([]any)
	if g["displayName"] != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" || len(members) != 1 || members[0].(map[string]any)["value"] != other {
		t.Errorf("group after rename, add and remove = %v; want only %s left", g, other)
	}

	ts.do("DELETE", "/scim/v2/Users/"+id, "").expect(t, http.StatusNoContent)
	ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusNotFound)
	ts.do("DELETE", "/scim/v2/Groups/"+gid, "").expect(t, http.StatusNoContent)
}
