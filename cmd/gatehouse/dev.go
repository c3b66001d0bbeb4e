package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// devAdminEmail is the staff account `make run` creates for development.
const devAdminEmail = "admin@gatehouse.localhost"

// runDevWelcome makes sure the development admin exists, gives it a fresh
// set-password link and prints where everything is.
func runDevWelcome(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("dev-welcome", "", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(os.Getenv, needDatabase|needServer)
	if err != nil {
		return err
	}
	if !cfg.development() {
		return fmt.Errorf("dev-welcome creates a known admin account and runs only with GATEHOUSE_ENV=development")
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	staff, link, err := forms.NewStaffStore(db).Add(ctx, devAdminEmail, "Dev Admin", "admin")
	if err != nil {
		return err
	}
	base := cfg.BaseURL.String()
	fmt.Fprintf(stdout, `
gatehouse is starting at %[1]s

  Setup portal (IT contacts):  %[1]s/setup
  Staff queue:                 %[1]s/staff
    Sign in as %[2]s. Set or reset its password at:
    %[1]s/staff/password/%[3]s
`, base, staff.Email, link.Reveal())
	if cfg.SMTPURL == "" {
		fmt.Fprintf(stdout, "  Mail:                        no SMTP_URL, so mail stays in the outbox: %s/staff/outbox\n", base)
	}
	fmt.Fprintf(stdout, "  SCIM base URL:               %s/scim/v2\n\nStop with Ctrl-C; `make stop` stops the database.\n\n", base)
	return nil
}
