package forms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// ActivationInput holds the values that activate a tenant, taken from an
// approved setup request or from the `tenant create` command.
type ActivationInput struct {
	// TenantID names an existing tenant to update. Empty creates a tenant
	// under Slug.
	TenantID string
	Slug     string
	Name     string
	Product  tenants.Product
	Settings tenants.Settings
	// SAML is the IdP connection to set; nil leaves the tenant's
	// connection as it is (a new tenant then has none).
	SAML    *tenants.SAMLConnection
	Contact tenants.Contact
	// UpdateExisting makes a taken Slug update that tenant instead of
	// failing with a *SlugTakenError.
	UpdateExisting bool
	// SetupRequestID is the approved setup request, if any, for the audit trail.
	SetupRequestID string
	Actor          Actor
}

// Activation is the outcome of ActivateTenant.
type Activation struct {
	Tenant  tenants.Tenant
	Created bool
	// Token is the plaintext of a new SCIM token. It is empty when SCIM is
	// off or the tenant already had a working token. The caller seals it
	// into a delivery or prints it once, and never stores or logs it.
	Token       secrets.Token
	TokenRecord tenants.TokenRecord
}

// ActivateTenant creates or updates a tenant with its settings, contact and
// SAML connection, issues a SCIM token when SCIM is on and the tenant has
// no working token, and audits each step, all in tx. A taken slug is a
// *SlugTakenError (unless UpdateExisting) and bad input an *InputError.
func ActivateTenant(ctx context.Context, tx *sqlx.Tx, in ActivationInput) (Activation, error) {
	if err := checkActivation(in); err != nil {
		return Activation{}, err
	}
	store := tenants.NewStore(tx)

	var out Activation
	var err error
	out.Tenant, out.Created, err = upsertTenant(ctx, tx, store, in)
	if err != nil {
		return Activation{}, err
	}
	tenantID := out.Tenant.ID
	if err := store.SetContact(ctx, tenantID, in.Contact); err != nil {
		return Activation{}, err
	}
	if in.SAML != nil {
		if err := setConnection(ctx, tx, store, in, tenantID); err != nil {
			return Activation{}, err
		}
	}
	if !out.Tenant.SCIM {
		return out, nil
	}

	hasToken, err := store.HasActiveToken(ctx, tenantID)
	if err != nil || hasToken {
		return out, err
	}
	out.Token, out.TokenRecord, err = store.IssueToken(ctx, tenantID)
	if err != nil {
		return Activation{}, err
	}
	err = in.Actor.audit(ctx, tx, "token.issue", tenantID, in.SetupRequestID,
		map[string]any{"token_id": out.TokenRecord.ID, "hint": out.TokenRecord.Hint, "reason": "activation"})
	if err != nil {
		return Activation{}, err
	}
	return out, nil
}

func checkActivation(in ActivationInput) error {
	switch {
	case in.TenantID == "" && !tenants.ValidSlug(in.Slug):
		return inputError("slug", "Enter a slug of 2 to 63 lowercase letters, digits and hyphens, starting with a letter or digit.")
	case strings.TrimSpace(in.Name) == "":
		return inputError("name", "Enter the company name.")
	case !in.Product.Valid():
		return inputError("product", "Choose the product meal_program or marketplace.")
	case in.Actor.Name == "":
		return errors.New("activate tenant: no actor")
	}
	return nil
}

// upsertTenant creates the tenant or updates the one named by TenantID (or
// by Slug with UpdateExisting), and audits the change.
func upsertTenant(ctx context.Context, tx *sqlx.Tx, store *tenants.Store, in ActivationInput) (tenants.Tenant, bool, error) {
	existing, err := findTenant(ctx, store, in)
	if err != nil {
		return tenants.Tenant{}, false, err
	}
	want := tenants.Tenant{Slug: in.Slug, Name: strings.TrimSpace(in.Name), Product: in.Product, Settings: in.Settings}

	if existing == nil {
		free, err := slugAvailable(ctx, tx, in.Slug, in.SetupRequestID)
		if err != nil {
			return tenants.Tenant{}, false, err
		}
		if !free {
			return tenants.Tenant{}, false, slugTaken(ctx, tx, in)
		}
		created, err := store.Create(ctx, want)
		if err != nil {
			return tenants.Tenant{}, false, err
		}
		err = in.Actor.audit(ctx, tx, "tenant.create", created.ID, in.SetupRequestID, tenantDetail(created))
		return created, true, err
	}

	want.ID, want.Slug = existing.ID, existing.Slug
	updated, err := store.Update(ctx, want)
	if err != nil {
		return tenants.Tenant{}, false, err
	}
	detail := tenantDetail(updated)
	detail["before"] = tenantDetail(*existing)
	err = in.Actor.audit(ctx, tx, "tenant.update", updated.ID, in.SetupRequestID, detail)
	return updated, false, err
}

func findTenant(ctx context.Context, store *tenants.Store, in ActivationInput) (*tenants.Tenant, error) {
	var t tenants.Tenant
	var err error
	switch {
	case in.TenantID != "":
		t, err = store.ByID(ctx, in.TenantID)
	case in.UpdateExisting:
		t, err = store.BySlug(ctx, in.Slug)
		if database.IsNotFound(err) {
			return nil, nil
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func slugTaken(ctx context.Context, tx *sqlx.Tx, in ActivationInput) error {
	base := in.Slug
	if len(base) > maxSlugBase {
		base = strings.TrimRight(base[:maxSlugBase], "-")
	}
	suggestion, err := freeSlug(ctx, tx, base, in.SetupRequestID)
	if err != nil {
		return err
	}
	return &SlugTakenError{Slug: in.Slug, Suggestion: suggestion}
}

func tenantDetail(t tenants.Tenant) map[string]any {
	return map[string]any{
		"slug": t.Slug, "name": t.Name, "product": string(t.Product),
		"scim": t.SCIM, "require_sso": t.RequireSSO, "autoprovision": t.Autoprovision,
		"idp_initiated": t.IdPInitiated, "allow_sha1": t.AllowSHA1,
	}
}

func setConnection(ctx context.Context, tx *sqlx.Tx, store *tenants.Store, in ActivationInput, tenantID string) error {
	conn := *in.SAML
	conn.TenantID = tenantID
	if err := store.SetSAMLConnection(ctx, conn); err != nil {
		return err
	}
	fingerprints := make([]string, 0, len(conn.Certificates))
	for _, der := range conn.Certificates {
		fingerprints = append(fingerprints, fmt.Sprintf("%x", secrets.Hash(string(der))))
	}
	return in.Actor.audit(ctx, tx, "tenant.saml", tenantID, in.SetupRequestID, map[string]any{
		"idp_entity_id": conn.IdPEntityID, "sso_url": conn.SSOURL, "sso_binding": conn.SSOBinding,
		"certificates": fingerprints,
	})
}

// Audit writes an audit event by actor in tx, for changes a caller makes
// through a store directly, such as tenant settings and drop locations.
// tenantID may be empty.
func Audit(ctx context.Context, tx *sqlx.Tx, actor Actor, action, tenantID string, detail map[string]any) error {
	return actor.audit(ctx, tx, action, tenantID, "", detail)
}

// CheckContact validates a tenant's IT contact as staff enter it. Both
// fields may be empty, which removes the contact.
func CheckContact(name, email string) (tenants.Contact, error) {
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	if name == "" && email == "" {
		return tenants.Contact{}, nil
	}
	if _, _, err := checkStaffInput(email, name, RoleReviewer); err != nil {
		return tenants.Contact{}, err
	}
	return tenants.Contact{Name: name, Email: email}, nil
}
