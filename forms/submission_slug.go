package forms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-dev/gatehouse/database"
)

// maxSlugBase leaves room for a "-99" suffix within the 63-character limit.
const maxSlugBase = 50

// SlugTakenError means the proposed tenant slug belongs to a tenant or to
// another open setup request.
type SlugTakenError struct {
	Slug       string
	Suggestion string // a free slug like it
}

func (e *SlugTakenError) Error() string { return "tenant slug " + e.Slug + " is taken" }

// Problem returns the error as a problem on the tenant slug field.
func (e *SlugTakenError) Problem() Problem {
	return Problem{Field: FieldTenantSlug, Severity: SeverityError, Message: fmt.Sprintf(
		"%s is already taken. Choose another, such as %s, or leave the field empty and we will pick one.",
		e.Slug, e.Suggestion)}
}

// SlugFromName makes a slug from a company name: lowercase ASCII letters and
// digits with hyphens between words, accents removed ("Café Zürich AG"
// becomes "cafe-zurich-ag"). A name with fewer than two usable characters
// gives "company".
func SlugFromName(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(strings.ToLower(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			hyphen = false
		case r < 0x80 || isSeparator(r):
			hyphen = true
		}
	}

	slug := b.String()
	if len(slug) > maxSlugBase {
		slug = strings.TrimRight(slug[:maxSlugBase], "-")
	}
	if len(slug) < 2 {
		return "company"
	}
	return slug
}

// isSeparator reports whether a non-ASCII rune separates words; combining
// marks left by NFKD (the accents) do not.
func isSeparator(r rune) bool {
	return !(r >= 0x300 && r <= 0x36f)
}

// slugAvailable reports whether no tenant and no other open request uses
// slug. exceptRequestID is the request being edited, or "".
func slugAvailable(ctx context.Context, q sqlx.QueryerContext, slug, exceptRequestID string) (bool, error) {
	var taken bool
	err := sqlx.GetContext(ctx, q, &taken, `
		SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)
		    OR EXISTS (SELECT 1 FROM setup_requests
		               WHERE tenant_slug = $1 AND state IN ('unverified', 'submitted', 'in_review', 'changes_requested')
		                 AND id::text <> $2)`, slug, exceptRequestID)
	if err != nil {
		return false, fmt.Errorf("check tenant slug: %w", database.Translate(err))
	}
	return !taken, nil
}

// freeSlug returns base if it is available, else the first free of base-2
// to base-99, else base with a random suffix.
func freeSlug(ctx context.Context, q sqlx.QueryerContext, base, exceptRequestID string) (string, error) {
	for n := 1; n < 100; n++ {
		candidate := base
		if n > 1 {
			candidate = fmt.Sprintf("%s-%d", base, n)
		}
		ok, err := slugAvailable(ctx, q, candidate, exceptRequestID)
		if err != nil || ok {
			return candidate, err
		}
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	return fmt.Sprintf("%s-%x", base, suffix), nil
}

// chooseSlug returns the slug to store: the proposed one when it is free,
// or one made from the company name when none was proposed. A taken
// proposal is a *SlugTakenError with a free suggestion.
func chooseSlug(ctx context.Context, q sqlx.QueryerContext, sub Submission, exceptRequestID string) (string, error) {
	if sub.TenantSlug == "" {
		return freeSlug(ctx, q, SlugFromName(sub.CompanyName), exceptRequestID)
	}

	ok, err := slugAvailable(ctx, q, sub.TenantSlug, exceptRequestID)
	if err != nil || ok {
		return sub.TenantSlug, err
	}
	base := sub.TenantSlug
	if len(base) > maxSlugBase {
		base = strings.TrimRight(base[:maxSlugBase], "-")
	}
	suggestion, err := freeSlug(ctx, q, base, exceptRequestID)
	if err != nil {
		return "", err
	}
	return "", &SlugTakenError{Slug: sub.TenantSlug, Suggestion: suggestion}
}

// PreviewSlug returns the slug a request would get now: proposed when it is
// valid and free, else one made from companyName. It reserves nothing, so
// Create may still find the slug taken. A problem on the tenant slug field
// explains an invalid or taken proposal, or asks for a company name when
// there is nothing to make a slug from.
func (s *Store) PreviewSlug(ctx context.Context, companyName, proposed, exceptRequestID string) (string, *Problem, error) {
	var problems problemList
	sub := Submission{CompanyName: strings.TrimSpace(companyName), TenantSlug: checkSlug(proposed, &problems)}
	if len(problems) > 0 {
		return "", &problems[0], nil
	}
	if sub.TenantSlug == "" && sub.CompanyName == "" {
		p := Problem{Field: FieldTenantSlug, Severity: SeverityError,
			Message: "Enter your company name or a sign-in name first, then show the values again."}
		return "", &p, nil
	}

	slug, err := chooseSlug(ctx, s.db, sub, exceptRequestID)
	var taken *SlugTakenError
	if errors.As(err, &taken) {
		p := taken.Problem()
		return "", &p, nil
	}
	return slug, nil, err
}
