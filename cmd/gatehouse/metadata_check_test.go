package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const metadataCorpusDir = "../../forms/testdata/idp-metadata"

// corpusPaths returns the paths of corpus files by name.
func corpusPaths(names ...string) []string {
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = filepath.Join(metadataCorpusDir, name)
	}
	return paths
}

// requireOutputLines fails t for every line of want that is not a line of output,
// compared without leading and trailing spaces.
func requireOutputLines(t *testing.T, output string, want []string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(output, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("output lacks the line %q; output:\n%s", w, output)
		}
	}
}

func TestMetadataCheckCorpusFiles(t *testing.T) {
	var stdout bytes.Buffer
	args := append([]string{"--now", "2026-12-04T00:00:00Z"}, corpusPaths(
		"okta-2024.xml", "jumpcloud-post-only.xml", "google-workspace-2016-expired.xml", "shibboleth-testshib-aggregate.xml")...)

	err := runMetadataCheck(args, &stdout)

	if err == nil || err.Error() != "1 of 4 files has errors" {
		t.Errorf("runMetadataCheck error = %v, want \"1 of 4 files has errors\"", err)
	}
	requireOutputLines(t, stdout.String(), []string{
		filepath.Join(metadataCorpusDir, "okta-2024.xml"),
		"entity ID: http://www.okta.com/exkdoocxa1VmjpXmX697",
		"SSO URL:   HTTP-POST     https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml",
		"HTTP-Redirect https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml (preferred)",
		"key: RSA 2048-bit, signature algorithm: SHA256-RSA",
		"valid: 2024-04-25 to 2034-04-25 (expires in 2699 days)",
		"verdict: accepted",

		"entity ID: IdP Entity ID",
		"key: RSA 4096-bit, signature algorithm: SHA256-RSA",
		`warning: The entity ID "IdP Entity ID" is JumpCloud's default placeholder, not a URI. Set a unique IdP entity ID in the SAML app in JumpCloud (such as https://sso.example.com/saml), then download the metadata again.`,
		"verdict: accepted with 1 warning",

		"SSO URL:   HTTP-POST     https://accounts.google.com/o/saml2/idp?idpid=C02dfl1r1 (preferred)",
		"valid: 2016-01-05 to 2021-01-03 (expired)",
		"valid until: 2021-01-03T16:17:49Z",
		"verdict: rejected (2 errors, 0 warnings)",

		"entity ID: https://idp.testshib.org/idp/shibboleth",
		"signing certificate 1 of 1: CN=idp.testshib.org",
	})
	if !strings.Contains(stdout.String(), "error: The signing certificate CN=Google expired on 2021-01-03.") {
		t.Errorf("output lacks the expired certificate error; output:\n%s", stdout.String())
	}
}

func TestMetadataCheckAllAccepted(t *testing.T) {
	var stdout bytes.Buffer

	err := runMetadataCheck(append([]string{"--now", "2026-12-04"}, corpusPaths("okta-2024.xml", "auth0-leading-comment.xml")...), &stdout)

	if err != nil {
		t.Errorf("runMetadataCheck error = %v, want nil; output:\n%s", err, stdout.String())
	}
	if got := strings.Count(stdout.String(), "verdict: accepted\n"); got != 2 {
		t.Errorf("%d accepted verdicts, want 2; output:\n%s", got, stdout.String())
	}
}

func TestMetadataCheckAggregateChoice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aggregate.xml")
	var doc strings.Builder
	doc.WriteString(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">`)
	for _, name := range []string{"okta-2024.xml", "google-workspace-2023.xml"} {
		raw, err := os.ReadFile(filepath.Join(metadataCorpusDir, name))
		if err != nil {
			t.Fatal(err)
		}
		entity := string(raw[bytes.Index(raw, []byte("<md:EntityDescriptor")):])
		doc.WriteString(entity)
	}
	doc.WriteString(`</md:EntitiesDescriptor>`)
	if err := os.WriteFile(path, []byte(doc.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("without a choice lists the entities", func(t *testing.T) {
		var stdout bytes.Buffer
		err := runMetadataCheck([]string{"--now", "2026-12-04", path}, &stdout)

		if err == nil || err.Error() != "1 of 1 file has errors" {
			t.Errorf("runMetadataCheck error = %v, want \"1 of 1 file has errors\"", err)
		}
		requireOutputLines(t, stdout.String(), []string{
			"IdP entities in this file (choose one with --entity-id):",
			"http://www.okta.com/exkdoocxa1VmjpXmX697",
			"https://accounts.google.com/o/saml2?idpid=C029op2ga",
		})
	})

	t.Run("with --entity-id uses that entity", func(t *testing.T) {
		var stdout bytes.Buffer
		err := runMetadataCheck([]string{"--now", "2026-12-04", "--entity-id", "https://accounts.google.com/o/saml2?idpid=C029op2ga", path}, &stdout)

		if err != nil {
			t.Errorf("runMetadataCheck error = %v, want nil; output:\n%s", err, stdout.String())
		}
		requireOutputLines(t, stdout.String(), []string{"entity ID: https://accounts.google.com/o/saml2?idpid=C029op2ga", "verdict: accepted"})
	})
}

func TestMetadataCheckFailureSummary(t *testing.T) {
	tests := []struct {
		failed, total int
		want          string
	}{
		{1, 1, "1 of 1 file has errors"},
		{1, 2, "1 of 2 files has errors"},
		{2, 2, "2 of 2 files have errors"},
		{3, 5, "3 of 5 files have errors"},
	}
	for _, tt := range tests {
		if got := failureSummary(tt.failed, tt.total); got != tt.want {
			t.Errorf("failureSummary(%d, %d) = %q, want %q", tt.failed, tt.total, got, tt.want)
		}
	}
}

func TestMetadataCheckUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantOutput string
	}{
		{name: "help flag", args: []string{"--help"}, wantErr: flag.ErrHelp.Error(), wantOutput: "Usage: gatehouse metadata check [flags] FILE..."},
		{name: "no file", args: nil, wantErr: "missing FILE: name at least one metadata file", wantOutput: "Usage: gatehouse metadata check"},
		{name: "invalid --now", args: []string{"--now", "yesterday", "x.xml"}, wantErr: `invalid --now "yesterday"`},
		{name: "unreadable file", args: []string{filepath.Join(metadataCorpusDir, "missing.xml")}, wantErr: "1 of 1 file has errors", wantOutput: "verdict: rejected (the file cannot be read)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer

			err := runMetadataCheck(tt.args, &stdout)

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("runMetadataCheck error = %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantOutput) {
				t.Errorf("output lacks %q; output:\n%s", tt.wantOutput, stdout.String())
			}
		})
	}

	var stdout bytes.Buffer
	if err := runMetadataCheck([]string{"-h"}, &stdout); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("runMetadataCheck(-h) error = %v, want flag.ErrHelp", err)
	}
	for _, args := range [][]string{nil, {"--now", "yesterday", "x.xml"}, {"--unknown"}} {
		if err := runMetadataCheck(args, &stdout); !errors.Is(err, errUsage) {
			t.Errorf("runMetadataCheck(%q) error = %v, want a usage error", args, err)
		}
	}
}
