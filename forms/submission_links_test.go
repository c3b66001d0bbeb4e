package forms

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

func TestDeleteOldStatusLinks(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	r := submittedRequest(t, db, validInput(t))
	store := NewStore(db)

	links := map[string]time.Duration{"long expired": -100 * 24 * time.Hour, "just expired": -time.Hour, "valid": time.Hour}
	secretOf := map[string]secrets.LinkSecret{}
	for name, expiresIn := range links {
		secret := secrets.NewLinkSecret()
		secretOf[name] = secret
		if _, err := db.ExecContext(ctx, `INSERT INTO status_links (hash, request_id, expires_at) VALUES ($1, $2, $3)`,
			secret.Hash(), r.ID, time.Now().Add(expiresIn)); err != nil {
			t.Fatal(err)
		}
	}

	n, err := store.DeleteOldStatusLinks(ctx, time.Now().Add(-ExpiredLinkRetention))
	if err != nil || n != 1 {
		t.Fatalf("DeleteOldStatusLinks = %d, %v; want 1", n, err)
	}
	want := map[string]error{"long expired": ErrContactLinkInvalid, "just expired": ErrContactLinkExpired, "valid": nil}
	for name, wantErr := range want {
		if _, err := store.StatusLink(ctx, secretOf[name], time.Now()); !errors.Is(err, wantErr) {
			t.Errorf("%s link: StatusLink error %v, want %v", name, err, wantErr)
		}
	}
}
