package tenants_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// kelvin is the Kelvin sign (U+212A). PostgreSQL's lower() turns it into
// k in the C.UTF-8 locale, while an IdP keeps "\u212Aate" and "kate" apart.
const kelvin = "\u212A"

// TestCreateLinksUpToASCIICase checks that a create links an unmanaged
// user only when the userName or email is the same up to the case of
// ASCII letters, outside and inside a transaction.
func TestCreateLinksUpToASCIICase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing existingUser
		create   tenants.UserFields
		// wantLink is set when the create must link the existing user.
		wantLink bool
		// wantConflict is set when the create must fail with
		// database.ErrConflict, because the userName index holds the two
		// names as one.
		wantConflict bool
	}{
		{
			name:     "email in another ASCII case",
			existing: existingUser{"kate-legacy", "Kate@Acme.example", false},
			create:   tenants.UserFields{UserName: "kate.new", Email: "kate@acme.example", Active: true},
			wantLink: true,
		},
		{
			name:     "email with a Kelvin sign",
			existing: existingUser{"kate-legacy", "kate@acme.example", false},
			create:   tenants.UserFields{UserName: "kate.new", Email: kelvin + "ate@acme.example", Active: true},
		},
		{
			name:     "existing email with a Kelvin sign",
			existing: existingUser{"kate-legacy", kelvin + "ate@acme.example", false},
			create:   tenants.UserFields{UserName: "kate.new", Email: "kate@acme.example", Active: true},
		},
		{
			name:         "userName with a Kelvin sign",
			existing:     existingUser{"kate@acme.example", "", false},
			create:       tenants.UserFields{UserName: kelvin + "ate@acme.example", Email: "new@acme.example", Active: true},
			wantConflict: true,
		},
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
				ids := insertUsers(t, db, tenant.ID, []existingUser{tt.existing})
				existingID := ids[tt.existing.userName]

				var u tenants.User
				var created bool
				err := database.WithTx(context.Background(), db, func(tx *sqlx.Tx) error {
					s := store
					if inTx {
						s = store.WithTx(tx)
					}
					var err error
					u, created, err = s.CreateOrLinkUser(context.Background(), tenant.ID, tt.create, tenants.Condition{SCIMTokenID: tokenID})
					return err
				})

				switch {
				case tt.wantConflict:
					if !errors.Is(err, database.ErrConflict) {
						t.Errorf("create = %+v, %v; want ErrConflict", u, err)
					}
				case err != nil:
					t.Fatal(err)
				case tt.wantLink:
					if created || u.ID != existingID {
						t.Errorf("created %v, user %s; want user %s linked", created, u.ID, existingID)
					}
				default:
					if !created || u.ID == existingID {
						t.Errorf("created %v, user %s; want a new user", created, u.ID)
					}
				}
				if tt.wantLink {
					return
				}
				var managed bool
				if err := db.Get(&managed, `SELECT scim_managed FROM users WHERE id = $1`, existingID); err != nil {
					t.Fatal(err)
				}
				if managed {
					t.Errorf("existing user %s is SCIM-managed after the create, want it left alone", existingID)
				}
			})
		}
	}
}
