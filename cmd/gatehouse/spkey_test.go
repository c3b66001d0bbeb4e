package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestLostMasterKeySPReset starts gatehouse with a master key other than
// the one that sealed the SAML service provider key, as after losing a
// key, and replaces the SP key with keys reset-sp.
func TestLostMasterKeySPReset(t *testing.T) {
	t.Parallel()
	first := startServer(t, serverOptions{})
	env := map[string]string{"DATABASE_URL": first.DatabaseURL}
	runCommand(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme", "--product", "meal_program")
	oldCert := spMetadata(t, first.URL, http.StatusOK)
	if oldCert == "" {
		t.Fatal("SP metadata has no certificate")
	}
	first.Stop(t)

	second := startServer(t, serverOptions{DatabaseURL: first.DatabaseURL})
	if logs := second.Logs.String(); !strings.Contains(logs, "saml_sp_key_unusable") || !strings.Contains(logs, "keys reset-sp") {
		t.Errorf("start with another master key logged:\n%s\nwant saml_sp_key_unusable naming keys reset-sp", logs)
	}
	spMetadata(t, second.URL, http.StatusInternalServerError)

	if code, stderr := runCommandExit(t, env, "keys", "reset-sp"); code != 2 || !strings.Contains(stderr, "--yes") {
		t.Errorf("keys reset-sp without --yes: exit %d, stderr %q; want 2 asking for --yes", code, stderr)
	}
	out := runCommand(t, env, "keys", "reset-sp", "--yes")
	if !strings.Contains(out, "deleted the SAML service provider key") {
		t.Errorf("keys reset-sp printed %q", out)
	}
	var audited int
	if err := second.DB.Get(&audited, `SELECT count(*) FROM audit_log WHERE action = 'keys.reset_sp'`); err != nil || audited != 1 {
		t.Errorf("%d keys.reset_sp audit rows (%v), want 1", audited, err)
	}

	if newCert := spMetadata(t, second.URL, http.StatusOK); newCert == oldCert {
		t.Errorf("SP metadata after keys reset-sp still has the old certificate (%d characters)", len(newCert))
	}
	if out := runCommand(t, env, "keys", "reset-sp", "--yes"); !strings.Contains(out, "deleted") {
		t.Errorf("second keys reset-sp printed %q, want the new pair deleted", out)
	}
}

// spMetadata fetches the SP metadata of tenant acme, checks the status and
// returns the first certificate in it, if any.
func spMetadata(t *testing.T, base string, status int) string {
	t.Helper()
	resp, err := http.Get(base + "/saml/acme/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("SP metadata: status %d, want %d", resp.StatusCode, status)
	}
	if m := certificateElement.FindSubmatch(body); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return ""
}

var certificateElement = regexp.MustCompile(`<[^>]*X509Certificate[^>]*>([^<]+)<`)
