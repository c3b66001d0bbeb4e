package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestSetUserActive(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	other, otherTokenID := newTenant(t, store, "globex")
	cond := tenants.Condition{SCIMTokenID: tokenID}

	user, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "pat@acme.example", GivenName: "Pat", Active: true}, cond)
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
	if _, err := db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) VALUES ('\x01', $1, $2, now() + interval '1 hour')`, user.ID, tenant.ID); err != nil {
		t.Fatal(err)
	}

	saved, groups, err := store.SetUserActive(ctx, tenant.ID, user.ID, false, cond)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Active || saved.Version != user.Version+1 || !saved.UpdatedAt.After(user.UpdatedAt) || saved.GivenName != "Pat" {
		t.Errorf("deactivated user = %+v; want inactive, version %d, a later updated_at and the name kept", saved, user.Version+1)
	}
	if diff := cmp.Diff([]tenants.GroupRef{{GroupID: group.ID, DisplayName: "Kitchen"}}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	var sessions int
	if err := db.GetContext(ctx, &sessions, `SELECT count(*) FROM sessions WHERE user_id = $1`, user.ID); err != nil || sessions != 0 {
		t.Errorf("%d sessions left after deactivation (%v), want 0", sessions, err)
	}

	again, _, err := store.SetUserActive(ctx, tenant.ID, user.ID, false, tenants.Condition{SCIMTokenID: tokenID, Version: saved.Version})
	if err != nil || again.Version != saved.Version || !again.UpdatedAt.Equal(saved.UpdatedAt) {
		t.Errorf("setting the same value = version %d, updated_at %v, %v; want version %d and updated_at %v kept",
			again.Version, again.UpdatedAt, err, saved.Version, saved.UpdatedAt)
	}

	tests := []struct {
		name     string
		tenantID string
		userID   string
		active   bool
		cond     tenants.Condition
		want     error
	}{
		{name: "stale version", tenantID: tenant.ID, userID: user.ID, active: true, cond: tenants.Condition{SCIMTokenID: tokenID, Version: user.Version}, want: tenants.ErrStale},
		{name: "another tenant's user", tenantID: other.ID, userID: user.ID, active: true, cond: tenants.Condition{SCIMTokenID: otherTokenID}, want: database.ErrNotFound},
		{name: "another tenant's token", tenantID: tenant.ID, userID: user.ID, active: true, cond: tenants.Condition{SCIMTokenID: otherTokenID}, want: tenants.ErrUnauthorized},
		{name: "missing user", tenantID: tenant.ID, userID: "00000000-0000-4000-8000-000000000000", active: true, cond: cond, want: database.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := store.SetUserActive(ctx, tt.tenantID, tt.userID, tt.active, tt.cond); !errors.Is(err, tt.want) {
				t.Errorf("SetUserActive = %v, want %v", err, tt.want)
			}
		})
	}
	if got, err := store.UserByID(ctx, tenant.ID, user.ID); err != nil || got.Active || got.Version != saved.Version {
		t.Errorf("user after rejected writes = %+v, %v; want unchanged at version %d", got, err, saved.Version)
	}
}

func TestSetUserActiveUnmanagedUser(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	var id string
	if err := db.GetContext(ctx, &id, `INSERT INTO users (tenant_id, user_name) VALUES ($1, 'lee@acme.example') RETURNING id`, tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.SetUserActive(ctx, tenant.ID, id, false, tenants.Condition{SCIMTokenID: tokenID}); !errors.Is(err, tenants.ErrUserNotManaged) {
		t.Errorf("SetUserActive on a user SCIM does not manage = %v, want ErrUserNotManaged", err)
	}
}

func TestSetUserActiveRevokedToken(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	user, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: "pat@acme.example", Active: true}, tenants.Condition{SCIMTokenID: tokenID})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, tenant.ID, tokenID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.SetUserActive(ctx, tenant.ID, user.ID, false, tenants.Condition{SCIMTokenID: tokenID}); !errors.Is(err, tenants.ErrUnauthorized) {
		t.Errorf("SetUserActive with a revoked token = %v, want ErrUnauthorized", err)
	}
}

// TestUserWritesEndSessions checks that every user write that leaves the
// user inactive or deleted ends their sessions, and one that leaves them
// active keeps them. The database enforces it, so a statement written
// outside the store does too.
func TestUserWritesEndSessions(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")
	cond := tenants.Condition{SCIMTokenID: tokenID}

	tests := []struct {
		name  string
		write func(userName, id string, active bool) error
	}{
		{"link", func(userName, _ string, active bool) error {
			_, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: userName, Active: active}, cond)
			return err
		}},
		{"replace", func(userName, id string, active bool) error {
			_, err := store.ReplaceUser(ctx, tenant.ID, id, tenants.UserFields{UserName: userName, Active: active}, cond)
			return err
		}},
		{"set active", func(_, id string, active bool) error {
			_, _, err := store.SetUserActive(ctx, tenant.ID, id, active, cond)
			return err
		}},
		{"any statement", func(_, id string, active bool) error {
			_, err := db.ExecContext(ctx, `UPDATE users SET active = $2 WHERE id = $1`, id, active)
			return err
		}},
		{"delete", func(_, id string, active bool) error {
			if active {
				return nil
			}
			return store.DeleteUser(ctx, tenant.ID, id, cond)
		}},
	}
	for i, tt := range tests {
		for _, active := range []bool{true, false} {
			userName := fmt.Sprintf("u%d-%v@acme.example", i, active)
			var id string
			if err := db.GetContext(ctx, &id, `INSERT INTO users (tenant_id, user_name, scim_managed) VALUES ($1, $2, $3) RETURNING id`,
				tenant.ID, userName, tt.name != "link"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) VALUES (decode(md5($1), 'hex'), $1::uuid, $2, now() + interval '1 hour')`, id, tenant.ID); err != nil {
				t.Fatal(err)
			}
			if err := tt.write(userName, id, active); err != nil {
				t.Fatalf("%s active=%v: %v", tt.name, active, err)
			}
			var sessions int
			if err := db.GetContext(ctx, &sessions, `SELECT count(*) FROM sessions WHERE user_id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[active]; sessions != want {
				t.Errorf("%s active=%v left %d sessions, want %d", tt.name, active, sessions, want)
			}
		}
	}
}

// TestSessionStartRacesDeactivation checks that a session started while
// a deactivation of its user is in flight does not outlive it. The
// trigger that ends the user's sessions has already run by then, so the
// session insert must wait for the deactivation and then add nothing.
func TestSessionStartRacesDeactivation(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, tokenID := newTenant(t, store, "acme")

	for _, write := range []string{
		`UPDATE users SET active = false WHERE id = $1`,
		`UPDATE users SET deleted_at = now() WHERE id = $1`,
	} {
		user, _, err := store.CreateOrLinkUser(ctx, tenant.ID, tenants.UserFields{UserName: fmt.Sprintf("race-%d@acme.example", len(write)), Active: true}, tenants.Condition{SCIMTokenID: tokenID})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, write, user.ID); err != nil {
			t.Fatal(err)
		}
		started := make(chan error, 1)
		go func() {
			_, err := db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) VALUES (decode(md5($1), 'hex'), $1::uuid, $2, now() + interval '1 hour')`, user.ID, tenant.ID)
			started <- err
		}()
		time.Sleep(200 * time.Millisecond)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-started; err != nil {
			t.Errorf("%s: session insert failed: %v", write, err)
		}
		var sessions int
		if err := db.GetContext(ctx, &sessions, `SELECT count(*) FROM sessions WHERE user_id = $1`, user.ID); err != nil {
			t.Fatal(err)
		}
		if sessions != 0 {
			t.Errorf("%s: %d sessions after the write committed, want 0", write, sessions)
		}
	}
}
