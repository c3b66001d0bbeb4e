package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/forms"
)

const metadataCheckUsage = `Usage: gatehouse metadata check [flags] FILE...

Validates each IdP SAML metadata file the way the setup form does, and prints
its entity ID, SSO URLs, signing certificates, errors and warnings. Exits 1
when any file has an error. Needs no database.

Flags:
`

// runMetadataCheck implements `gatehouse metadata check FILE...`. It returns
// flag.ErrHelp after printing the usage for --help, a usage error (errUsage)
// for bad flags or no FILE, and an error of one line when a file has an
// error or cannot be read.
func runMetadataCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("metadata check", flag.ContinueOnError)
	fs.SetOutput(stdout)
	entityID := fs.String("entity-id", "", "entity `ID` of the IdP to use when a file holds several (an aggregate)")
	asOf := fs.String("now", "", "check expiry as of this `time` (RFC 3339, or YYYY-MM-DD) instead of the current time")
	fs.Usage = func() {
		fmt.Fprint(stdout, metadataCheckUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%v", err)
	}

	opts := forms.ValidateOptions{EntityID: *entityID}
	if *asOf != "" {
		now, err := parseCheckTime(*asOf)
		if err != nil {
			return err
		}
		opts.Now = now
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("missing FILE: name at least one metadata file")
	}

	failed := 0
	for i, path := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if !checkMetadataFile(stdout, path, opts) {
			failed++
		}
	}

	if failed > 0 {
		return errors.New(failureSummary(failed, fs.NArg()))
	}
	return nil
}

func parseCheckTime(value string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, value); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("invalid --now %q: use RFC 3339 (2026-12-04T00:00:00Z) or YYYY-MM-DD", value)
}

// failureSummary formats the command's error, such as "1 of 4 files has
// errors". The noun agrees with the total and the verb with the failed count.
func failureSummary(failed, total int) string {
	files, verb := "files", "have"
	if total == 1 {
		files = "file"
	}
	if failed == 1 {
		verb = "has"
	}
	return fmt.Sprintf("%d of %d %s %s errors", failed, total, files, verb)
}

// checkMetadataFile validates one file, prints its report and returns
// whether it has no error.
func checkMetadataFile(w io.Writer, path string, opts forms.ValidateOptions) bool {
	fmt.Fprintln(w, path)

	raw, err := readMetadataFile(path)
	if err != nil {
		fmt.Fprintf(w, "  error: %v\n", err)
		fmt.Fprintln(w, "  verdict: rejected (the file cannot be read)")
		return false
	}

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	report := forms.ValidateMetadata(raw, opts)
	printMetadata(w, report.Metadata, now)
	printEntityChoices(w, report.EntityChoices)
	printProblems(w, report)
	return !report.HasErrors()
}

// readMetadataFile reads at most one byte more than forms.MaxMetadataBytes,
// which is enough for the validator to reject a larger file.
func readMetadataFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metadata file: %w", err)
	}
	defer f.Close()

	raw, err := io.ReadAll(io.LimitReader(f, forms.MaxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read metadata file %s: %w", path, err)
	}
	return raw, nil
}

func printMetadata(w io.Writer, md *forms.Metadata, now time.Time) {
	if md == nil {
		return
	}

	fmt.Fprintf(w, "  entity ID: %s\n", orNone(md.EntityID))
	preferred := md.PreferredSSO()
	for i, e := range md.SSOEndpoints {
		label := "  SSO URL:  "
		if i > 0 {
			label = "            "
		}
		note := ""
		if e == preferred {
			note = " (preferred)"
		}
		fmt.Fprintf(w, "%s %-13s %s%s\n", label, e.Binding.ShortName(), e.Location, note)
	}
	for i, c := range md.SigningCerts {
		printCertificate(w, c, i, len(md.SigningCerts), now)
	}
	if len(md.NameIDFormats) > 0 {
		fmt.Fprintf(w, "  NameID formats: %s\n", strings.Join(md.NameIDFormats, ", "))
	}
	if md.ValidUntil != nil {
		fmt.Fprintf(w, "  valid until: %s\n", md.ValidUntil.Format(time.RFC3339))
	}
	if md.Signed {
		fmt.Fprintln(w, "  signed: yes (the signature is not verified)")
	}
}

func printCertificate(w io.Writer, c forms.Certificate, i, n int, now time.Time) {
	fmt.Fprintf(w, "  signing certificate %d of %d: %s\n", i+1, n, c.Subject)

	key := c.KeyAlgorithm
	if c.KeyBits > 0 {
		key = fmt.Sprintf("%s %d-bit", c.KeyAlgorithm, c.KeyBits)
	}
	fmt.Fprintf(w, "    key: %s, signature algorithm: %s\n", key, c.SignatureAlgorithm)
	fmt.Fprintf(w, "    valid: %s to %s (%s)\n",
		c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), expiryNote(c, now))
	fmt.Fprintf(w, "    SHA-256 fingerprint: %s\n", c.SHA256Fingerprint)
}

func expiryNote(c forms.Certificate, now time.Time) string {
	switch {
	case now.After(c.NotAfter):
		return "expired"
	case now.Before(c.NotBefore):
		return "not valid yet"
	}
	days := int(c.NotAfter.Sub(now).Hours() / 24)
	if days == 1 {
		return "expires in 1 day"
	}
	return fmt.Sprintf("expires in %d days", days)
}

func printEntityChoices(w io.Writer, choices []string) {
	if len(choices) == 0 {
		return
	}
	fmt.Fprintln(w, "  IdP entities in this file (choose one with --entity-id):")
	for _, id := range choices {
		fmt.Fprintf(w, "    %s\n", orNone(id))
	}
}

func printProblems(w io.Writer, report forms.Report) {
	errs, warnings := report.Errors(), report.Warnings()
	for _, p := range errs {
		fmt.Fprintf(w, "  error: %s\n", p.Message)
	}
	for _, p := range warnings {
		fmt.Fprintf(w, "  warning: %s\n", p.Message)
	}

	switch {
	case len(errs) > 0:
		fmt.Fprintf(w, "  verdict: rejected (%s, %s)\n", pluralCount(len(errs), "error"), pluralCount(len(warnings), "warning"))
	case len(warnings) > 0:
		fmt.Fprintf(w, "  verdict: accepted with %s\n", pluralCount(len(warnings), "warning"))
	default:
		fmt.Fprintln(w, "  verdict: accepted")
	}
}

func pluralCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
