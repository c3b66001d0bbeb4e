package main

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestTenantSAMLReplacesConnection(t *testing.T) {
	t.Parallel()
	db, databaseURL := pgtest.NewWithURL(t)
	env := map[string]string{"DATABASE_URL": databaseURL}
	runCommand(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme", "--product", "meal_program",
		"--metadata", "testdata/okta-2024.xml")

	dry := runCommand(t, env, "tenant", "saml", "--slug", "acme", "--metadata", "testdata/google-workspace-2023.xml", "--dry-run")
	for _, want := range []string{
		"entity ID: http://www.okta.com/exkdoocxa1VmjpXmX697 -> https://accounts.google.com/o/saml2?idpid=C029op2ga",
		"certificate added: CN=Google", "certificate removed: ", "Dry run: nothing was saved.",
	} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, dry)
		}
	}
	store := tenants.NewStore(db)
	tenant, err := store.BySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if conn, _ := store.SAMLConnection(t.Context(), tenant.ID); conn.IdPEntityID != "http://www.okta.com/exkdoocxa1VmjpXmX697" {
		t.Fatalf("the dry run saved %s", conn.IdPEntityID)
	}

	out := runCommand(t, env, "tenant", "saml", "--slug", "acme", "--metadata", "testdata/google-workspace-2023.xml", "--keep-current")
	if !strings.Contains(out, "was replaced") {
		t.Errorf("output lacks the confirmation:\n%s", out)
	}
	conn, err := store.SAMLConnection(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if conn.IdPEntityID != "https://accounts.google.com/o/saml2?idpid=C029op2ga" || len(conn.Certificates) != 2 {
		t.Errorf("connection = %s with %d certificates, want Google's with 2 (Okta's kept)", conn.IdPEntityID, len(conn.Certificates))
	}
	var audits int
	if err := db.GetContext(t.Context(), &audits, `SELECT count(*) FROM audit_log WHERE action = 'tenant.saml_replace' AND actor = 'operator'`); err != nil {
		t.Fatal(err)
	}
	if audits != 1 {
		t.Errorf("tenant.saml_replace audit rows by the operator = %d, want 1", audits)
	}
}

func TestTenantSAMLRejectsBadMetadata(t *testing.T) {
	t.Parallel()
	_, databaseURL := pgtest.NewWithURL(t)
	code, stderr := runCommandExit(t, map[string]string{"DATABASE_URL": databaseURL},
		"tenant", "saml", "--slug", "acme", "--metadata", "tenant_saml_test.go")
	if code != 1 || !strings.Contains(stderr, "was rejected with the errors printed above; nothing was changed") {
		t.Errorf("exit %d, stderr %q; want 1 and a one-line reason", code, stderr)
	}
}
