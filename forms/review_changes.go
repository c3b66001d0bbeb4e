package forms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// Change is one field that differs from the previous submission.
type Change struct {
	Field  string // as people read it, such as "SSO URL"
	Before string
	After  string
}

// comparedFields lists the request's columns that a resubmission can
// change, with their labels, in the order of the setup form.
var comparedFields = []struct{ Column, Label string }{
	{"company_name", "Company name"},
	{"email_domains", "Email domains"},
	{"product", "Product"},
	{"contact_name", "Contact name"},
	{"contact_email", "Contact email"},
	{"contact_phone", "Contact phone"},
	{"tenant_slug", "Tenant slug"},
	{"idp_vendor", "IdP"},
	{"idp_entity_id", "IdP entity ID"},
	{"sso_url", "SSO URL"},
	{"sso_binding", "SSO binding"},
	{"certificates", "Signing certificates (SHA-256)"},
	{"metadata_xml", "Metadata document (SHA-256)"},
	{"scim_requested", "SCIM"},
	{"require_sso", "Require SSO"},
	{"autoprovision", "Autoprovision"},
	{"notes", "Notes"},
}

// changes compares the request with the values its last resubmission
// replaced, which the submission code keeps in request_revisions. It
// reports false when the request was never resubmitted.
func (s *Store) changes(ctx context.Context, id string) ([]Change, bool, error) {
	var row struct {
		Previous []byte `db:"previous"`
		Current  []byte `db:"current"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT rv.request AS previous, to_jsonb(r) AS current FROM setup_requests r
		LEFT JOIN LATERAL (SELECT request FROM request_revisions WHERE request_id = r.id ORDER BY id DESC LIMIT 1) rv ON true
		WHERE r.id = $1`, id)
	if err != nil {
		return nil, false, fmt.Errorf("get previous submission: %w", database.Translate(err))
	}
	if row.Previous == nil {
		return nil, false, nil
	}
	var before, after map[string]any
	if err := json.Unmarshal(row.Previous, &before); err != nil {
		return nil, false, fmt.Errorf("read previous submission: %w", err)
	}
	if err := json.Unmarshal(row.Current, &after); err != nil {
		return nil, false, fmt.Errorf("read request: %w", err)
	}
	return diffFields(before, after), true, nil
}

func diffFields(before, after map[string]any) []Change {
	out := []Change{}
	for _, f := range comparedFields {
		b, a := describeField(f.Column, before[f.Column]), describeField(f.Column, after[f.Column])
		if b != a {
			out = append(out, Change{Field: f.Label, Before: b, After: a})
		}
	}
	return out
}

// describeField renders a column's JSON value for the diff. Certificates
// and the metadata document are shown as SHA-256 fingerprints, enough to
// see whether they changed.
func describeField(column string, v any) string {
	switch column {
	case "certificates":
		list, _ := v.([]any)
		prints := make([]string, 0, len(list))
		for _, item := range list {
			der, _ := hex.DecodeString(strings.TrimPrefix(fmt.Sprint(item), `\x`))
			prints = append(prints, shortHash(der))
		}
		return strings.Join(prints, ", ")
	case "metadata_xml":
		text, _ := v.(string)
		if text == "" {
			return "(entered by hand)"
		}
		return shortHash([]byte(text))
	}
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return map[bool]string{true: "Yes", false: "No"}[v]
	case []any:
		parts := make([]string, len(v))
		for i, item := range v {
			parts[i] = fmt.Sprint(item)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
