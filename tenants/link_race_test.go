package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// raceResult is the outcome of one of several concurrent creates.
type raceResult struct {
	user    tenants.User
	created bool
	err     error
}

// createConcurrently runs one CreateOrLinkUser per fields at once, each in
// its own transaction when inTx is set.
func createConcurrently(t *testing.T, db *sqlx.DB, tenantID, tokenID string, inTx bool, fields []tenants.UserFields) []raceResult {
	t.Helper()
	store := tenants.NewStore(db)
	results := make([]raceResult, len(fields))
	var wg sync.WaitGroup
	for i, f := range fields {
		wg.Go(func() {
			r := &results[i]
			cond := tenants.Condition{SCIMTokenID: tokenID}
			if !inTx {
				r.user, r.created, r.err = store.CreateOrLinkUser(context.Background(), tenantID, f, cond)
				return
			}
			r.err = database.WithTx(context.Background(), db, func(tx *sqlx.Tx) error {
				var err error
				r.user, r.created, err = store.WithTx(tx).CreateOrLinkUser(context.Background(), tenantID, f, cond)
				return err
			})
		})
	}
	wg.Wait()
	return results
}

// TestCreateLinkByEmailRace checks that concurrent creates of different
// userNames with the email of one unmanaged user link that user exactly
// once and create the others.
func TestCreateLinkByEmailRace(t *testing.T) {
	t.Parallel()
	for _, inTx := range []bool{false, true} {
		t.Run(fmt.Sprintf("in transaction %v", inTx), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			tenant, tokenID := newTenant(t, tenants.NewStore(db), "acme")
			legacy := insertUsers(t, db, tenant.ID, []existingUser{{"jdoe-legacy", "jane@acme.example", false}})["jdoe-legacy"]

			var fields []tenants.UserFields
			for i := range 12 {
				fields = append(fields, tenants.UserFields{UserName: fmt.Sprintf("jane.%d", i), Email: "jane@acme.example", Active: true})
			}
			var linked, created int
			for i, r := range createConcurrently(t, db, tenant.ID, tokenID, inTx, fields) {
				switch {
				case r.err != nil:
					t.Errorf("create %s: %v", fields[i].UserName, r.err)
				case r.created:
					created++
				case r.user.ID == legacy:
					linked++
				default:
					t.Errorf("create linked user %s, want the legacy user %s or a new one", r.user.ID, legacy)
				}
			}
			if linked != 1 || created != 11 {
				t.Errorf("%d links and %d new users, want 1 and 11", linked, created)
			}
		})
	}
}

// TestCreateLinkOneUserNameRace checks that concurrent creates of one
// userName, half with the email of one unmanaged user and half with
// another's, link exactly one of them and get ErrConflict for the rest.
func TestCreateLinkOneUserNameRace(t *testing.T) {
	t.Parallel()
	for _, inTx := range []bool{false, true} {
		t.Run(fmt.Sprintf("in transaction %v", inTx), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			tenant, tokenID := newTenant(t, tenants.NewStore(db), "acme")
			ids := insertUsers(t, db, tenant.ID, []existingUser{{"a-legacy", "a@acme.example", false}, {"b-legacy", "b@acme.example", false}})

			var fields []tenants.UserFields
			for i := range 12 {
				email := "a@acme.example"
				if i%2 == 1 {
					email = "b@acme.example"
				}
				fields = append(fields, tenants.UserFields{UserName: "pat", Email: email, Active: true})
			}
			var ok, conflicts int
			for _, r := range createConcurrently(t, db, tenant.ID, tokenID, inTx, fields) {
				switch {
				case errors.Is(r.err, database.ErrConflict):
					conflicts++
				case r.err != nil:
					t.Errorf("create: %v", r.err)
				case r.created || (r.user.ID != ids["a-legacy"] && r.user.ID != ids["b-legacy"]):
					t.Errorf("create made or linked user %s, want one of the legacy users linked", r.user.ID)
				default:
					ok++
				}
			}
			if ok != 1 || conflicts != 11 {
				t.Errorf("%d links and %d conflicts, want 1 and 11", ok, conflicts)
			}
			var managed int
			if err := db.Get(&managed, `SELECT count(*) FROM users WHERE tenant_id = $1 AND scim_managed`, tenant.ID); err != nil {
				t.Fatal(err)
			}
			if managed != 1 {
				t.Errorf("%d SCIM-managed users, want 1", managed)
			}
		})
	}
}
