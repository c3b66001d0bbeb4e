package tenants_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func newTenant(t *testing.T, store *tenants.Store, slug string) (tenants.Tenant, string) {
	t.Helper()
	ctx := context.Background()
	tenant, err := store.Create(ctx, tenants.Tenant{Slug: slug, Name: slug, Product: tenants.MealProgram, Settings: tenants.Settings{SCIM: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, rec, err := store.IssueToken(ctx, tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tenant, rec.ID
}

func TestCreateOrLinkUser(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	cond := tenants.Condition{SCIMTokenID: tokenID}

	if _, err := db.ExecContext(ctx, `INSERT INTO users (tenant_id, user_name) VALUES ($1, 'Pat@Acme.example')`, tenant.ID); err != nil {
		t.Fatal(err)
	}
	linked, created, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "pat@acme.example", GivenName: "Pat", Active: true}, cond)
	if err != nil || created || !linked.SCIMManaged || linked.GivenName != "Pat" {
		t.Fatalf("link = %+v, created %v, %v; want the existing user linked", linked, created, err)
	}
	if _, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "PAT@acme.example", Active: true}, cond); !errors.Is(err, database.ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}

	replaced, err := store.ReplaceUser(ctx, tenant.ID, linked.ID, tenants.UserFields{UserName: "pat@acme.example", Active: false}, tenants.Condition{SCIMTokenID: tokenID, Version: linked.Version})
	if err != nil || replaced.Active || replaced.Version != linked.Version+1 {
		t.Fatalf("replace = %+v, %v", replaced, err)
	}
	if _, err := store.ReplaceUser(ctx, tenant.ID, linked.ID, tenants.UserFields{UserName: "x"}, tenants.Condition{Version: linked.Version}); !errors.Is(err, tenants.ErrStale) {
		t.Errorf("replace with an old version = %v, want ErrStale", err)
	}

	if err := store.DeleteUser(ctx, tenant.ID, linked.ID, cond); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UserByID(ctx, tenant.ID, linked.ID); !database.IsNotFound(err) {
		t.Errorf("UserByID after delete = %v, want not found", err)
	}
	again, created, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "pat@acme.example", Active: true}, cond)
	if err != nil || !created || again.ID == linked.ID {
		t.Errorf("create after delete = %s, %v, %v; want a new user", again.ID, created, err)
	}
}

func TestCreateUserRevokedToken(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	if err := store.RevokeToken(ctx, tenant.ID, tokenID); err != nil {
		t.Fatal(err)
	}
	_, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "a"}, tenants.Condition{SCIMTokenID: tokenID})
	if !errors.Is(err, tenants.ErrUnauthorized) {
		t.Errorf("create with a revoked token = %v, want ErrUnauthorized", err)
	}
}

func TestCreateUserConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	tenant, tokenID := newTenant(t, store, "acme")

	var wg sync.WaitGroup
	results := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, created, err := store.CreateOrLinkUser(context.Background(), tenant.ID, tenants.UserFields{UserName: "dup@acme.example", Active: true}, tenants.Condition{SCIMTokenID: tokenID})
			if err == nil && !created {
				err = errors.New("linked instead of created")
			}
			results <- err
		})
	}
	wg.Wait()
	close(results)
	var ok, conflicts int
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, database.ErrConflict):
			conflicts++
		default:
			t.Errorf("create: %v", err)
		}
	}
	if ok != 1 || conflicts != 9 {
		t.Errorf("got %d created and %d conflicts, want 1 and 9", ok, conflicts)
	}
}

// TestLockUser checks that LockUser returns the user with their groups,
// holds back another write until the transaction ends, and reports a
// revoked token or a missing user.
func TestLockUser(t *testing.T) {
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
	group, err := store.CreateGroup(ctx, tenant.ID, "Kitchen", nil, cond)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AddGroupMembers(ctx, tenant.ID, group.ID, []string{user.ID}); err != nil {
		t.Fatal(err)
	}

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	locked, groups, err := store.WithTx(tx).LockUser(ctx, tenant.ID, user.ID, cond)
	if err != nil {
		t.Fatal(err)
	}
	if locked.ID != user.ID || locked.Version != user.Version {
		t.Errorf("locked user = %s at version %d, want %s at version %d", locked.ID, locked.Version, user.ID, user.Version)
	}
	if diff := cmp.Diff([]tenants.GroupRef{{GroupID: group.ID, DisplayName: "Kitchen"}}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	written := make(chan error, 1)
	go func() {
		_, _, err := store.SetUserActive(ctx, tenant.ID, user.ID, false, cond)
		written <- err
	}()
	select {
	case err := <-written:
		t.Errorf("a write went through while the user was locked: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Errorf("write after the lock ended: %v", err)
	}

	tests := []struct {
		name   string
		userID string
		cond   tenants.Condition
		want   error
	}{
		{name: "missing user", userID: "00000000-0000-4000-8000-000000000000", cond: cond, want: database.ErrNotFound},
		{name: "stale version", userID: user.ID, cond: tenants.Condition{SCIMTokenID: tokenID, Version: user.Version}, want: tenants.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := store.LockUser(ctx, tenant.ID, tt.userID, tt.cond); !errors.Is(err, tt.want) {
				t.Errorf("LockUser = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("revoked token", func(t *testing.T) {
		if err := store.RevokeToken(ctx, tenant.ID, tokenID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.LockUser(ctx, tenant.ID, user.ID, cond); !errors.Is(err, tenants.ErrUnauthorized) {
			t.Errorf("LockUser with a revoked token = %v, want ErrUnauthorized", err)
		}
	})
}
