package database_test

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
)

// TestTranslateInvalidText checks that text PostgreSQL cannot store, which
// clients can send in any form field or JSON string, becomes
// ErrInvalidText instead of an unclassified error that handlers turn into
// a 500.
func TestTranslateInvalidText(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	tests := []struct {
		name  string
		query string
		arg   string
	}{
		{name: "null character in text", query: `SELECT lower($1::text)`, arg: "a\x00b"},
		{name: "invalid UTF-8 in text", query: `SELECT lower($1::text)`, arg: "a\xffb"},
		{name: "null escape in jsonb", query: `SELECT $1::jsonb`, arg: `{"title":"a\u0000b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out string
			err := database.Translate(db.GetContext(t.Context(), &out, tt.query, tt.arg))
			if !errors.Is(err, database.ErrInvalidText) {
				t.Errorf("Translate(%q) = %v, want ErrInvalidText", tt.arg, err)
			}
		})
	}
}
