package tenants_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func newRing(t *testing.T, old ...secrets.MasterKey) (*secrets.Keyring, secrets.MasterKey) {
	t.Helper()
	key, err := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return secrets.NewKeyring(key, old...), key
}

func TestRewrapDeliveriesKeepsThemReadable(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	oldRing, oldKey := newRing(t)

	type sealed struct {
		link  secrets.LinkSecret
		token secrets.Token
	}
	var deliveries []sealed
	for _, slug := range []string{"one-co", "two-co", "three-co"} {
		tenant, err := store.Create(t.Context(), tenants.Tenant{Slug: slug, Name: slug, Product: tenants.MealProgram})
		if err != nil {
			t.Fatal(err)
		}
		token, rec, err := store.IssueToken(t.Context(), tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, link, err := store.CreateDelivery(t.Context(), oldRing, tenant.ID, rec.ID, token, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		deliveries = append(deliveries, sealed{link, token})
	}

	newRing, newKey := newRing(t, oldKey)
	moved, err := store.RewrapDeliveries(t.Context(), newRing)
	if err != nil || moved != 3 {
		t.Fatalf("RewrapDeliveries = %d, %v; want 3", moved, err)
	}
	usage, err := store.KeyUsage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{newKey.ID(): 3}, usage); diff != "" {
		t.Errorf("KeyUsage (-want +got):\n%s", diff)
	}
	if again, err := store.RewrapDeliveries(t.Context(), newRing); err != nil || again != 0 {
		t.Errorf("second RewrapDeliveries = %d, %v; want 0", again, err)
	}

	newOnly := secrets.NewKeyring(newKey)
	for i, d := range deliveries {
		_, token, err := store.RevealDelivery(t.Context(), newOnly, d.link)
		if err != nil || token.Reveal() != d.token.Reveal() {
			t.Errorf("delivery %d under the new key alone: token matches %v, %v", i, token.Reveal() == d.token.Reveal(), err)
		}
	}
}

func TestRevokeVoidsDeliveries(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ring, _ := newRing(t)
	tenant, err := store.Create(t.Context(), tenants.Tenant{Slug: "revoke-co", Name: "Revoke", Product: tenants.MealProgram})
	if err != nil {
		t.Fatal(err)
	}
	token, rec, err := store.IssueToken(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, link, err := store.CreateDelivery(t.Context(), ring, tenant.ID, rec.ID, token, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	if err := store.RevokeToken(t.Context(), tenant.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.TokenByHash(t.Context(), token.Hash()); err != tenants.ErrUnauthorized {
		t.Errorf("TokenByHash after revoke = %v, want ErrUnauthorized", err)
	}
	if _, _, err := store.RevealDelivery(t.Context(), ring, link); err != tenants.ErrDeliveryVoided {
		t.Errorf("RevealDelivery after revoke = %v, want ErrDeliveryVoided", err)
	}
}

func TestRewrapSPKeyKeepsItReadable(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	oldRing, oldKey := newRing(t)
	aad := []byte("saml sp key")

	if moved, err := store.RewrapSPKey(t.Context(), oldRing); err != nil || moved {
		t.Fatalf("RewrapSPKey without a key = %v, %v; want false, nil", moved, err)
	}
	key, err := secrets.NewSAMLKey("gatehouse test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := oldRing.SealSAMLKey(key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSPKey(t.Context(), key.Certificate(), sealed); err != nil {
		t.Fatal(err)
	}

	newRing, newKey := newRing(t, oldKey)
	if moved, err := store.RewrapSPKey(t.Context(), newRing); err != nil || !moved {
		t.Fatalf("RewrapSPKey = %v, %v; want true, nil", moved, err)
	}
	usage, err := store.KeyUsage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{newKey.ID(): 1}, usage); diff != "" {
		t.Errorf("KeyUsage (-want +got):\n%s", diff)
	}

	cert, stored, err := store.SPKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.NewKeyring(newKey).OpenSAMLKey(stored, aad, cert); err != nil {
		t.Errorf("the SP key does not open under the new master key alone: %v", err)
	}
}
