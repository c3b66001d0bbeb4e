package forms_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func certificateExpiringIn(t *testing.T, d time.Duration) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "idp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(d)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertificateExpiryNoticesOncePerThreshold(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := t.Context()
	if _, _, err := forms.NewStaffStore(db).Add(ctx, "sid@gatehouse.example", "Sid", forms.RoleReviewer); err != nil {
		t.Fatal(err)
	}
	store := tenants.NewStore(db)
	tenant, err := store.Create(ctx, tenants.Tenant{Slug: "expiring-co", Name: "Expiring Co", Product: tenants.MealProgram})
	if err != nil {
		t.Fatal(err)
	}
	store.SetContact(ctx, tenant.ID, tenants.Contact{Name: "Ida", Email: "ida@expiring.example"})
	err = store.SetSAMLConnection(ctx, tenants.SAMLConnection{TenantID: tenant.ID, IdPEntityID: "https://idp.example", SSOURL: "https://idp.example/sso",
		SSOBinding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Certificates: [][]byte{
			certificateExpiringIn(t, 5*24*time.Hour), // within 7 days
			certificateExpiringIn(t, -24*time.Hour),  // expired already
		}})
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	job := &forms.CertificateExpiryJob{DB: db, Now: func() time.Time { return now }}
	var wg sync.WaitGroup
	counts := make([]int, 3)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := job.RunOnce(ctx)
			if err != nil {
				t.Errorf("RunOnce: %v", err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	if total := counts[0] + counts[1] + counts[2]; total != 1 {
		t.Errorf("concurrent runs sent %v notices, want 1 in total", counts)
	}

	var thresholds []int
	db.SelectContext(ctx, &thresholds, `SELECT threshold_days FROM certificate_expiry_notices ORDER BY threshold_days`)
	if diff := cmp.Diff([]int{7}, thresholds); diff != "" {
		t.Errorf("recorded thresholds (-want +got):\n%s", diff)
	}
	var recipients []string
	db.SelectContext(ctx, &recipients, `SELECT to_address FROM outbox WHERE kind = 'certificate_expiry' ORDER BY to_address`)
	if diff := cmp.Diff([]string{"ida@expiring.example", "sid@gatehouse.example"}, recipients); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}

	later := now.Add(4*24*time.Hour + time.Hour)
	job.Now = func() time.Time { return later }
	if n, err := job.RunOnce(ctx); err != nil || n != 1 {
		t.Errorf("run within 1 day = %d, %v; want the 1-day notice", n, err)
	}
	if n, err := job.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("run again = %d, %v; want 0", n, err)
	}
}

// TestCertificateExpirySkipsRolledOver checks that a certificate near its
// expiry gets no notice while the tenant has a successor that stays valid
// past the largest threshold, and that both get one when neither does.
func TestCertificateExpirySkipsRolledOver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		validDays []int
		want      int
	}{
		{"successor stored", []int{5, 200}, 0},
		{"both expiring", []int{5, 20}, 2},
		{"only the expiring one", []int{5}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := t.Context()
			store := tenants.NewStore(db)
			tenant, err := store.Create(ctx, tenants.Tenant{Slug: "rollover-co", Name: "Rollover Co", Product: tenants.MealProgram})
			if err != nil {
				t.Fatal(err)
			}
			store.SetContact(ctx, tenant.ID, tenants.Contact{Name: "Ida", Email: "ida@rollover.example"})
			var certs [][]byte
			for _, days := range tt.validDays {
				certs = append(certs, certificateExpiringIn(t, time.Duration(days)*24*time.Hour))
			}
			err = store.SetSAMLConnection(ctx, tenants.SAMLConnection{TenantID: tenant.ID, IdPEntityID: "https://idp.example",
				SSOURL: "https://idp.example/sso", SSOBinding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Certificates: certs})
			if err != nil {
				t.Fatal(err)
			}
			job := &forms.CertificateExpiryJob{DB: db, Now: time.Now}
			if n, err := job.RunOnce(ctx); err != nil || n != tt.want {
				t.Errorf("RunOnce = %d, %v; want %d notices", n, err, tt.want)
			}
		})
	}
}
