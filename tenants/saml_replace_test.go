package tenants_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func samlTestCertificate(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestReplaceSAMLConnectionVersions(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	tenant, _ := newTenant(t, store, "saml-versions")
	oldCert, newCert := samlTestCertificate(t, "old"), samlTestCertificate(t, "new")
	replace := func(entityID string, cert []byte, seen time.Time) error {
		return database.WithTx(t.Context(), db, func(tx *sqlx.Tx) error {
			return store.WithTx(tx).ReplaceSAMLConnection(t.Context(), tenants.SAMLConnection{
				TenantID: tenant.ID, IdPEntityID: entityID, SSOURL: "https://idp.example/sso",
				SSOBinding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Certificates: [][]byte{cert},
			}, seen)
		})
	}

	if err := replace("https://idp.example/first", oldCert, time.Now()); !errors.Is(err, database.ErrConflict) {
		t.Errorf("replace a missing connection with a version: %v, want a conflict", err)
	}
	if err := replace("https://idp.example/first", oldCert, time.Time{}); err != nil {
		t.Fatalf("create the first connection: %v", err)
	}
	first, err := store.SAMLConnection(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := replace("https://idp.example/other", newCert, time.Time{}); !errors.Is(err, database.ErrConflict) {
		t.Errorf("replace an existing connection as if there were none: %v, want a conflict", err)
	}
	if err := replace("https://idp.example/stale", newCert, first.UpdatedAt.Add(-time.Second)); !errors.Is(err, database.ErrConflict) {
		t.Errorf("replace with a stale version: %v, want a conflict", err)
	}

	if err := replace("https://idp.example/second", newCert, first.UpdatedAt); err != nil {
		t.Fatalf("replace with the current version: %v", err)
	}
	got, err := store.SAMLConnection(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"https://idp.example/second", [][]byte{newCert}}, []any{got.IdPEntityID, got.Certificates}); diff != "" {
		t.Errorf("connection after replacing (-want +got):\n%s", diff)
	}
}

func TestReplaceSAMLConnectionOtherTenant(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	mine, _ := newTenant(t, store, "saml-mine")
	theirs, _ := newTenant(t, store, "saml-theirs")
	cert := samlTestCertificate(t, "theirs")
	conn := tenants.SAMLConnection{TenantID: theirs.ID, IdPEntityID: "https://idp.theirs/", SSOURL: "https://idp.theirs/sso",
		SSOBinding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Certificates: [][]byte{cert}}
	if err := store.SetSAMLConnection(t.Context(), conn); err != nil {
		t.Fatal(err)
	}

	conn.TenantID = mine.ID
	err := database.WithTx(t.Context(), db, func(tx *sqlx.Tx) error {
		return store.WithTx(tx).ReplaceSAMLConnection(t.Context(), conn, time.Time{})
	})
	if err != nil {
		t.Fatal(err)
	}
	theirsNow, err := store.SAMLConnection(t.Context(), theirs.ID)
	if err != nil || len(theirsNow.Certificates) != 1 {
		t.Errorf("the other tenant's connection after a replacement: %d certificates, %v", len(theirsNow.Certificates), err)
	}
}
