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
