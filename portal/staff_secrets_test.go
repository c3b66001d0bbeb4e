package portal

import (
	"fmt"
	"testing"
)

// assertNoPlaintext fails the test when any text, JSON, bytea or array
// column of any table in the database contains token.
func assertNoPlaintext(t *testing.T, env *staffEnv, token string) {
	t.Helper()
	var columns []struct {
		Table  string `db:"table_name"`
		Column string `db:"column_name"`
		Type   string `db:"udt_name"`
	}
	err := env.db.SelectContext(t.Context(), &columns, `
		SELECT table_name, column_name, udt_name FROM information_schema.columns
		WHERE table_schema = 'public' AND udt_name IN ('text', 'varchar', 'bpchar', 'jsonb', 'json', 'bytea', '_text', '_bytea', '_varchar')
		ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	if len(columns) < 20 {
		t.Fatalf("found only %d columns to scan; the query is wrong", len(columns))
	}
	for _, col := range columns {
		var cond string
		switch col.Type {
		case "bytea":
			cond = fmt.Sprintf(`position(convert_to($1, 'UTF8') IN %q) > 0`, col.Column)
		case "_bytea":
			cond = fmt.Sprintf(`EXISTS (SELECT 1 FROM unnest(%q) AS u (v) WHERE position(convert_to($1, 'UTF8') IN v) > 0)`, col.Column)
		default:
			cond = fmt.Sprintf(`strpos(%q::text, $1) > 0`, col.Column)
		}
		var n int
		if err := env.db.GetContext(t.Context(), &n, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %s`, col.Table, cond), token); err != nil {
			t.Fatalf("scan %s.%s: %v", col.Table, col.Column, err)
		}
		if n > 0 {
			t.Errorf("%s.%s contains the plaintext token in %d rows", col.Table, col.Column, n)
		}
	}
}
