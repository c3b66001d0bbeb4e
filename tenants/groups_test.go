package tenants_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestUserGroupsSQLRoundTrip checks that group names survive the text
// array that UserGroupsSQL selects and GroupRefs scans: PostgreSQL quotes
// and escapes array elements, and GroupRefs must undo exactly that.
func TestUserGroupsSQLRoundTrip(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	cond := tenants.Condition{SCIMTokenID: tokenID}
	user, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "pat@acme.example", Active: true}, cond)
	if err != nil {
		t.Fatal(err)
	}

	names := []string{
		"", " ", "  leading", "trailing  ", `say "cheese"`, `back\slash`, `\`, `"`, `\"`, "a,b", "{braces}", "}", "{",
		"NULL", "null", "日本語 チーム", "emoji 😀", "tab\tand\nnewline", strings.Repeat("long ", 2000), `{"a":[1,2]}`,
	}
	for i, name := range names {
		// Prefixes keep names that differ only in case apart, since group
		// names are unique ignoring case.
		name = fmt.Sprintf("%02d%s", i, name)
		names[i] = name
		group, err := store.CreateGroup(ctx, tenant.ID, name, nil, cond)
		if err != nil {
			t.Fatalf("create group %q: %v", name, err)
		}
		if err := store.AddGroupMembers(ctx, tenant.ID, group.ID, []string{user.ID}); err != nil {
			t.Fatal(err)
		}
	}

	want, err := store.UserGroups(ctx, tenant.ID, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got tenants.GroupRefs
	if err := db.GetContext(ctx, &got, `SELECT `+tenants.UserGroupsSQL("u")+` FROM users u WHERE u.id = $1`, user.ID); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(names) {
		t.Fatalf("UserGroups returned %d groups, want %d", len(want), len(names))
	}
	if diff := cmp.Diff(want, []tenants.GroupRef(got)); diff != "" {
		t.Errorf("groups scanned from the array (-want +got):\n%s", diff)
	}
}
