package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// openDatabase connects and applies pending migrations, as every command
// that touches data does before its work.
func openDatabase(ctx context.Context, cfg config) (*sqlx.DB, error) {
	db, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := database.Migrate(ctx, db.DB); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// setUp reads the settings a command needs from the environment and, when
// it needs the database, connects and migrates. The caller closes db when
// it is not nil.
func setUp(ctx context.Context, needs need) (config, *sqlx.DB, error) {
	cfg, err := loadConfig(os.Getenv, needs)
	if err != nil {
		return cfg, nil, err
	}
	if needs&needDatabase == 0 {
		return cfg, nil, nil
	}
	db, err := openDatabase(ctx, cfg)
	return cfg, db, err
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("migrate", "", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, db, err := setUp(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func runStaffAdd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("staff add", "--email EMAIL --name NAME [--role reviewer|admin]", stdout)
	email := fs.String("email", "", "staff member's work `email` (required)")
	name := fs.String("name", "", "staff member's full `name` (required)")
	role := fs.String("role", "reviewer", "`role`: reviewer works the queue; admin also manages staff")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" || *name == "" {
		return usageError("--email and --name are required")
	}
	if *role != "reviewer" && *role != "admin" {
		return usageError("--role must be reviewer or admin, not %q", *role)
	}

	cfg, db, err := setUp(ctx, needDatabase|needBaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	staff, link, err := forms.NewStaffStore(db).Add(ctx, *email, *name, *role)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Staff account %s (%s). Set a password within 24 hours at:\n%s/staff/password/%s\n",
		staff.Email, staff.Role, cfg.BaseURL, link.Reveal())
	return nil
}

func runTokenIssue(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("token issue", "--tenant SLUG", stdout)
	slug := fs.String("tenant", "", "tenant `slug` (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *slug == "" {
		return usageError("--tenant is required")
	}
	_, db, err := setUp(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer db.Close()

	var token secrets.Token
	err = database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
		store := tenants.NewStore(tx)
		t, err := store.BySlug(ctx, *slug)
		if database.IsNotFound(err) {
			return fmt.Errorf("no tenant has the slug %q; check it on the staff Tenants page", *slug)
		}
		if err != nil {
			return err
		}
		if !t.SCIM {
			return fmt.Errorf("tenant %s does not have SCIM enabled", t.Slug)
		}
		tok, rec, err := store.IssueToken(ctx, t.ID)
		if err != nil {
			return err
		}
		token = tok
		return store.Audit(ctx, tenants.AuditEvent{
			Actor: "operator", Action: "token.issue", TenantID: &t.ID,
			Detail: map[string]any{"token_id": rec.ID, "via": "cli"},
		})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SCIM token for %s (shown once; store it in your IdP now):\n%s\n", *slug, token.Reveal())
	return nil
}

func runKeysGenerate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("keys generate", "", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secrets.GenerateMasterKey())
	return nil
}

func runKeysRotate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("keys rotate", "", stdout)
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: gatehouse keys rotate")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Re-wrap every sealed token delivery and the SAML service provider key under")
		fmt.Fprintln(stdout, "the current master key. Before running it, set GATEHOUSE_MASTER_KEY to the new")
		fmt.Fprintln(stdout, "key and GATEHOUSE_OLD_MASTER_KEYS to the previous ones (comma-separated).")
		fmt.Fprintln(stdout, "It then names each old key that still seals records. Run it again until it")
		fmt.Fprintln(stdout, "names none, and only then remove old keys from GATEHOUSE_OLD_MASTER_KEYS.")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, db, err := setUp(ctx, needDatabase|needKeys)
	if err != nil {
		return err
	}
	defer db.Close()

	store := tenants.NewStore(db)
	n, err := store.RewrapDeliveries(ctx, cfg.Keyring)
	if err != nil {
		return err
	}
	spMoved, err := store.RewrapSPKey(ctx, cfg.Keyring)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-wrapped %d deliveries under master key %s\n", n, cfg.Keyring.CurrentID())
	if spMoved {
		fmt.Fprintln(stdout, "re-wrapped the SAML service provider key")
	}

	usage, err := store.KeyUsage(ctx)
	if err != nil {
		return err
	}
	for id, count := range usage {
		if id != cfg.Keyring.CurrentID() {
			fmt.Fprintf(stdout, "master key %s still seals %d records; run keys rotate again before retiring it\n", id, count)
		}
	}
	return nil
}

func runKeysResetSP(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("keys reset-sp", "", stdout)
	yes := fs.Bool("yes", false, "confirm that every IdP that checks signed AuthnRequests or encrypts assertions will load the new SP metadata")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: gatehouse keys reset-sp --yes")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Replace a SAML service provider key that no master key can open.")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "It deletes the SAML service provider key pair, for when the master key that seals")
		fmt.Fprintln(stdout, "it is lost. The next sign-in or SP metadata request creates a new pair under the")
		fmt.Fprintln(stdout, "current master key. Until each tenant's IdP loads the new SP metadata, IdPs that")
		fmt.Fprintln(stdout, "check signed AuthnRequests reject sign-ins, and assertions encrypted to the old")
		fmt.Fprintln(stdout, "certificate cannot be read. If the old master key still exists, put it in")
		fmt.Fprintln(stdout, "GATEHOUSE_OLD_MASTER_KEYS and run keys rotate instead.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !*yes {
		return usageError("keys reset-sp replaces the key every IdP knows; run it with --yes to confirm")
	}
	_, db, err := setUp(ctx, needDatabase)
	if err != nil {
		return err
	}
	defer db.Close()

	var oldKeyID string
	err = database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
		store := tenants.NewStore(tx)
		var err error
		if oldKeyID, err = store.DeleteSPKey(ctx); err != nil {
			return err
		}
		return store.Audit(ctx, tenants.AuditEvent{
			Actor: "operator", Action: "keys.reset_sp", Detail: map[string]any{"sealed_under": oldKeyID, "via": "cli"},
		})
	})
	if database.IsNotFound(err) {
		fmt.Fprintln(stdout, "no SAML service provider key is stored; the next sign-in creates one")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted the SAML service provider key sealed under master key %s\n", oldKeyID)
	fmt.Fprintln(stdout, "every tenant whose IdP checks signed requests or encrypts assertions must load the new SP metadata")
	return nil
}

func runMetadataCheckCommand(ctx context.Context, args []string, stdout io.Writer) error {
	return runMetadataCheck(args, stdout)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
