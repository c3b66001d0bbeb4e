package tenants_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestCreateLinksByEmail checks which existing user a create links when
// the userName is new but the email is not, outside and inside a
// transaction (autoprovisioning tenants create in one).
func TestCreateLinksByEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// existing are the tenant's users before the create, as
		// userName, email and whether SCIM manages them.
		existing []existingUser
		// want is the userName, before the create, of the user it links;
		// empty for a new user.
		want string
	}{
		{"one unmanaged user with the email", []existingUser{{"jdoe-legacy", "Jane@Acme.example", false}}, "jdoe-legacy"},
		{"managed user with the email", []existingUser{{"jdoe-legacy", "jane@acme.example", true}}, ""},
		{"two unmanaged users with the email", []existingUser{{"a", "jane@acme.example", false}, {"b", "jane@acme.example", false}}, ""},
		{"userName wins over email", []existingUser{{"jdoe-legacy", "jane@acme.example", false}, {"Jane.Doe", "other@acme.example", false}}, "Jane.Doe"},
		{"same user by both", []existingUser{{"jane.doe", "jane@acme.example", false}}, "jane.doe"},
		{"no match", []existingUser{{"bob", "bob@acme.example", false}}, ""},
	}
	for _, inTx := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if inTx {
				name += " in a transaction"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db := pgtest.New(t)
				store := tenants.NewStore(db)
				tenant, tokenID := newTenant(t, store, "acme")
				ids := insertUsers(t, db, tenant.ID, tt.existing)

				f := tenants.UserFields{UserName: "jane.doe", Email: "jane@acme.example", GivenName: "Jane", Active: true}
				cond := tenants.Condition{SCIMTokenID: tokenID}
				var u tenants.User
				var created bool
				err := database.WithTx(context.Background(), db, func(tx *sqlx.Tx) error {
					s := store
					if inTx {
						s = store.WithTx(tx)
					}
					var err error
					u, created, err = s.CreateOrLinkUser(context.Background(), tenant.ID, f, cond)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.want == "" {
					if !created {
						t.Errorf("linked user %s, want a new user", u.ID)
					}
					return
				}
				if created || u.ID != ids[tt.want] {
					t.Errorf("created %v, user %s; want user %q (%s) linked", created, u.ID, tt.want, ids[tt.want])
				}
				if !u.SCIMManaged || u.UserName != "jane.doe" || u.GivenName != "Jane" {
					t.Errorf("linked user %+v, want it SCIM-managed with the new attributes", u)
				}
			})
		}
	}
}

type existingUser struct {
	userName, email string
	managed         bool
}

func insertUsers(t *testing.T, db *sqlx.DB, tenantID string, users []existingUser) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, e := range users {
		var id string
		if err := db.Get(&id, `INSERT INTO users (tenant_id, user_name, email, scim_managed) VALUES ($1, $2, $3, $4) RETURNING id`,
			tenantID, e.userName, e.email, e.managed); err != nil {
			t.Fatal(err)
		}
		ids[e.userName] = id
	}
	return ids
}
