package scim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestApplyPatch(t *testing.T) {
	t.Parallel()
	const base = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","userName":"pat","active":true,
		"name":{"givenName":"Pat","familyName":"Lee"},
		"emails":[{"value":"pat@work.example","type":"work","primary":true},{"value":"pat@home.example","type":"home"}]}`
	tests := []struct {
		name string
		ops  string
		want string // the changed attributes; others must stay as in base
		err  string // scimType when the PATCH must fail
	}{
		{name: "replace active without path", ops: `[{"op":"replace","value":{"active":false}}]`, want: `{"active":false}`},
		{name: "op names in any case", ops: `[{"op":"Replace","path":"active","value":"False"}]`, want: `{"active":false}`},
		{name: "path-less keys are paths", ops: `[{"op":"replace","value":{"name.givenName":"Sam","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ops"}}]`,
			want: `{"name":{"givenName":"Sam","familyName":"Lee"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}`},
		{name: "extension object without path", ops: `[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42"}}}]`,
			want: `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42"}}`},
		{name: "manager as a bare id", ops: `[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-1"}]`,
			want: `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m-1"}}}`},
		{name: "complex replace keeps other sub-attributes", ops: `[{"op":"replace","path":"name","value":{"givenName":"Al"}}]`,
			want: `{"name":{"givenName":"Al","familyName":"Lee"}}`},
		{name: "filtered sub-attribute replace", ops: `[{"op":"replace","path":"emails[type eq \"home\"].value","value":"new@home.example"}]`,
			want: `{"emails":[{"value":"pat@work.example","type":"work","primary":true},{"value":"new@home.example","type":"home"}]}`},
		{name: "add on a typed email that does not exist", ops: `[{"op":"add","path":"emails[type eq \"other\"].value","value":"o@example.com"}]`,
			want: `{"emails":[{"value":"pat@work.example","type":"work","primary":true},{"value":"pat@home.example","type":"home"},{"value":"o@example.com","type":"other"}]}`},
		{name: "add a new primary email", ops: `[{"op":"add","path":"emails","value":[{"value":"p@new.example","primary":true}]}]`,
			want: `{"emails":[{"value":"pat@work.example","type":"work","primary":false},{"value":"pat@home.example","type":"home"},{"value":"p@new.example","primary":true}]}`},
		{name: "add an existing email merges", ops: `[{"op":"add","path":"emails","value":[{"value":"PAT@home.example","type":"home","display":"Home"}]}]`,
			want: `{"emails":[{"value":"pat@work.example","type":"work","primary":true},{"value":"PAT@home.example","type":"home","display":"Home"}]}`},
		{name: "remove by value filter", ops: `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
			want: `{"emails":[{"value":"pat@work.example","type":"work","primary":true}]}`},
		{name: "remove with a value list", ops: `[{"op":"remove","path":"emails","value":[{"value":"pat@work.example"}]}]`,
			want: `{"emails":[{"value":"pat@home.example","type":"home"}]}`},
		{name: "remove a whole attribute", ops: `[{"op":"remove","path":"emails"}]`, want: `{"emails":null}`},
		{name: "replace a multi-valued attribute", ops: `[{"op":"replace","path":"emails","value":[{"value":"only@example.com"}]}]`,
			want: `{"emails":[{"value":"only@example.com"}]}`},
		{name: "remove without path", ops: `[{"op":"remove"}]`, err: noTarget},
		{name: "unknown attribute", ops: `[{"op":"replace","path":"shoeSize","value":"9"}]`, err: invalidPath},
		{name: "read-only attribute", ops: `[{"op":"replace","path":"meta.created","value":"x"}]`, err: mutabilityErr},
		{name: "id of another resource", ops: `[{"op":"replace","value":{"id":"u2"}}]`, err: mutabilityErr},
		{name: "wrong type", ops: `[{"op":"replace","path":"active","value":"maybe"}]`, err: invalidValue},
		{name: "bad operation", ops: `[{"op":"move","path":"active","value":true}]`, err: invalidSyntax},
		{name: "no match for a complex filter", ops: `[{"op":"replace","path":"emails[type eq \"x\" or type eq \"y\"].value","value":"a"}]`, err: noTarget},
		{name: "required attribute", ops: `[{"op":"remove","path":"userName"}]`, err: invalidValue},
		{name: "malformed path", ops: `[{"op":"replace","path":"emails[type eq","value":"a"}]`, err: invalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decodeMap(t, base)
			var ops []patchOperation
			if err := json.Unmarshal([]byte(tt.ops), &ops); err != nil {
				t.Fatal(err)
			}
			err := applyPatch(userType, doc, ops)
			if tt.err != "" {
				if got := toSCIMError(err); err == nil || got.scimType != tt.err {
					t.Fatalf("applyPatch = %v, want scimType %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("applyPatch: %v", err)
			}
			want := decodeMap(t, base)
			for k, v := range decodeMap(t, tt.want) {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, roundTrip(t, doc)); diff != "" {
				t.Errorf("patched resource (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPatchIsAtomic checks that a failing operation leaves the stored
// user as it was, even when earlier operations succeeded.
func TestPatchIsAtomic(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	created := ts.do("POST", "/scim/v2/Users", `{"userName":"atomic@example.com","displayName":"Before"}`).expect(t, http.StatusCreated).json(t)
	id := created["id"].(string)
	ts.do("PATCH", "/scim/v2/Users/"+id, `{"Operations":[{"op":"replace","path":"displayName","value":"After"},{"op":"replace","path":"nope","value":"x"}]}`).expect(t, http.StatusBadRequest)
	got := ts.do("GET", "/scim/v2/Users/"+id, "").expect(t, http.StatusOK).json(t)
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("user after a failed PATCH (-want +got):\n%s", diff)
	}
}

func decodeMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decodeMap(t, string(raw))
}
