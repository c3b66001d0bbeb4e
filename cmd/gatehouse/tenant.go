package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func runTenantCreate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("tenant create", "--slug S --name N --product meal_program|marketplace [flags]", stdout)
	slug := fs.String("slug", "", "tenant `slug` used in URLs, e.g. acme (required)")
	name := fs.String("name", "", "company `name` (required)")
	product := fs.String("product", "", "`product`: meal_program or marketplace (required)")
	metadataFile := fs.String("metadata", "", "IdP metadata XML `file` for SAML sign-in")
	var set tenants.Settings
	fs.BoolVar(&set.SCIM, "scim", false, "enable SCIM provisioning and print a new token")
	fs.BoolVar(&set.RequireSSO, "require-sso", false, "send password sign-ins to SSO")
	fs.BoolVar(&set.Autoprovision, "autoprovision", false, "email users created over SCIM to set up their account")
	fs.BoolVar(&set.IdPInitiated, "idp-initiated", false, "accept IdP-initiated sign-in (the IdP dashboard tile)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *slug == "" || *name == "" || *product == "" {
		return usageError("--slug, --name and --product are required")
	}
	if !tenants.Product(*product).Valid() {
		return usageError("--product must be meal_program or marketplace, not %q", *product)
	}

	in := forms.ActivationInput{
		Slug: *slug, Name: *name, Product: tenants.Product(*product), Settings: set, Actor: forms.Operator,
	}
	if *metadataFile != "" {
		conn, err := connectionFromFile(*metadataFile, stdout)
		if err != nil {
			return err
		}
		in.SAML = conn
	}

	_, db, err := setUp(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer db.Close()

	var out forms.Activation
	err = database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
		out, err = forms.ActivateTenant(ctx, tx, in)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Tenant %s (%s, %s) is active.\n", out.Tenant.Slug, out.Tenant.Name, out.Tenant.Product.Title())
	if out.Token != "" {
		fmt.Fprintf(stdout, "SCIM token (shown once; store it in your IdP now):\n%s\n", out.Token.Reveal())
	}
	return nil
}

// connectionFromFile validates a metadata file as the setup form would and
// prints its warnings. A file with errors is rejected with every error.
func connectionFromFile(path string, stdout io.Writer) (*tenants.SAMLConnection, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	report := forms.ValidateMetadata(raw, forms.ValidateOptions{Now: time.Now()})
	for _, p := range report.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", p.Message)
	}
	if report.HasErrors() {
		var msgs []string
		for _, p := range report.Errors() {
			msgs = append(msgs, p.Message)
		}
		return nil, fmt.Errorf("metadata %s: %s", path, strings.Join(msgs, " "))
	}
	if report.Metadata == nil {
		return nil, errors.New("metadata: no usable IdP entity")
	}

	md := report.Metadata
	sso := md.PreferredSSO()
	conn := &tenants.SAMLConnection{
		IdPEntityID: md.EntityID, SSOURL: sso.Location, SSOBinding: string(sso.Binding), MetadataXML: string(raw),
	}
	for _, c := range md.SigningCerts {
		conn.Certificates = append(conn.Certificates, c.DER)
	}
	return conn, nil
}

func runTenantSAML(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("tenant saml", "--slug S --metadata FILE [flags]", stdout)
	slug := fs.String("slug", "", "`slug` of the tenant whose SAML connection to replace (required)")
	metadataFile := fs.String("metadata", "", "new IdP metadata XML `file` (required)")
	entityID := fs.String("entity-id", "", "IdP `entity ID` to use when the file describes several IdPs")
	keep := fs.Bool("keep-current", false, "keep trusting the current signing certificates that the file does not list, until they expire")
	dryRun := fs.Bool("dry-run", false, "print the changes without saving them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *slug == "" || *metadataFile == "" {
		return usageError("--slug and --metadata are required")
	}

	next, err := replacementFromFile(*metadataFile, *entityID, stdout)
	if err != nil {
		return err
	}
	_, db, err := setUp(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer db.Close()

	err = database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
		return replaceSAML(ctx, tx, *slug, next, *keep, *dryRun, stdout)
	})
	if err != nil || *dryRun {
		return err
	}
	fmt.Fprintf(stdout, "The SAML connection of tenant %s was replaced; the next sign-in uses its certificates.\n", *slug)
	return nil
}

// replacementFromFile validates a metadata file with the setup form's
// checks, prints its errors and warnings and returns the connection it
// describes. A file with errors is rejected.
func replacementFromFile(path, entityID string, stdout io.Writer) (tenants.SAMLConnection, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return tenants.SAMLConnection{}, fmt.Errorf("read metadata: %w", err)
	}
	in := forms.SubmissionInput{MetadataSource: forms.SourcePaste, MetadataXML: string(raw), EntityChoice: entityID}
	checked := forms.CheckSAMLReplacement(context.Background(), in, time.Now())
	for _, p := range checked.Problems {
		fmt.Fprintf(stdout, "%s: %s\n", p.Severity, p.Message)
	}
	if len(checked.Report.EntityChoices) > 0 {
		fmt.Fprintf(stdout, "IdP entities in the file (choose one with --entity-id): %s\n", strings.Join(checked.Report.EntityChoices, ", "))
	}
	if checked.Connection == nil {
		return tenants.SAMLConnection{}, fmt.Errorf("metadata %s was rejected with the errors printed above; nothing was changed", path)
	}
	return *checked.Connection, nil
}

// replaceSAML prints what replacing the tenant's connection with next
// changes and, unless dryRun, saves it with an audit row by the operator.
func replaceSAML(ctx context.Context, tx *sqlx.Tx, slug string, next tenants.SAMLConnection, keep, dryRun bool, stdout io.Writer) error {
	store := tenants.NewStore(tx)
	t, err := store.BySlug(ctx, slug)
	if database.IsNotFound(err) {
		return fmt.Errorf("no tenant has the slug %q; check it on the staff Tenants page", slug)
	} else if err != nil {
		return err
	}

	var current *tenants.SAMLConnection
	var seen time.Time
	conn, err := store.SAMLConnection(ctx, t.ID)
	switch {
	case err == nil:
		current, seen = &conn, conn.UpdatedAt
	case !database.IsNotFound(err):
		return err
	}
	if keep && current != nil {
		next = forms.KeepCurrentCertificates(next, current.Certificates, time.Now())
	}
	printSAMLDiff(stdout, forms.DiffSAMLConnections(current, next))
	if dryRun {
		fmt.Fprintln(stdout, "Dry run: nothing was saved.")
		return nil
	}
	return forms.ReplaceSAMLConnection(ctx, tx, forms.Operator, t.ID, next, seen)
}

func printSAMLDiff(w io.Writer, d forms.SAMLDiff) {
	for _, v := range []struct {
		name   string
		change forms.ValueChange
	}{{"entity ID", d.EntityID}, {"SSO URL", d.SSOURL}, {"SSO binding", d.SSOBinding}} {
		if v.change.Changed() {
			fmt.Fprintf(w, "%s: %s -> %s\n", v.name, previousValue(v.change.Before), v.change.After)
		} else {
			fmt.Fprintf(w, "%s: %s (unchanged)\n", v.name, v.change.After)
		}
	}
	for _, c := range d.Certificates {
		fmt.Fprintf(w, "certificate %s: %s, expires %s, SHA-256 %s\n",
			c.Change, c.Subject, c.NotAfter.UTC().Format("2006-01-02"), c.Fingerprint)
	}
}

// previousValue is a setting's value before a replacement, as printed.
func previousValue(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
