package forms

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
)

// requestReset runs RequestPasswordReset in its own transaction and
// returns whether it made a link.
func requestReset(t *testing.T, db *sqlx.DB, email string) bool {
	t.Helper()
	var sent bool
	err := database.WithTx(t.Context(), db, func(tx *sqlx.Tx) error {
		var err error
		_, _, sent, err = RequestPasswordReset(t.Context(), tx, Actor{Name: "anonymous", ClientIP: "192.0.2.1"}, email)
		return err
	})
	if err != nil {
		t.Fatalf("reset for %s: %v", email, err)
	}
	return sent
}

// resetAudits lists the email and audit_capped detail of the reset rows,
// oldest first, past the first skip rows.
func resetAudits(t *testing.T, db *sqlx.DB, skip int) []string {
	t.Helper()
	var out []string
	err := db.SelectContext(t.Context(), &out, `
		SELECT (detail->>'email') || ' capped=' || coalesce(detail->>'audit_capped', 'false')
		FROM audit_log WHERE action = 'staff.password_reset' ORDER BY id OFFSET $1`, skip)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnknownResetAuditCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		prior int    // unknown-address reset rows already written
		age   string // how long ago they were written
		want  []string
	}{
		{
			name: "below the cap audits every request", age: "1 minute",
			want: []string{"a@example.com capped=false", "b@example.com capped=false", "pat@example.com capped=false"},
		},
		{
			name: "the row that reaches the cap says so, later ones are skipped", prior: MaxUnknownResetAudits - 1, age: "1 minute",
			want: []string{"a@example.com capped=true", "pat@example.com capped=false"},
		},
		{
			name: "rows older than an hour do not count", prior: MaxUnknownResetAudits, age: "61 minutes",
			want: []string{"a@example.com capped=false", "b@example.com capped=false", "pat@example.com capped=false"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			if _, _, err := NewStaffStore(db).Add(t.Context(), "pat@example.com", "Pat", RoleReviewer); err != nil {
				t.Fatal(err)
			}
			_, err := db.ExecContext(t.Context(), `
				INSERT INTO audit_log (at, actor, action, detail)
				SELECT now() - $2::interval, 'anonymous', 'staff.password_reset', jsonb_build_object('email', 'old' || g || '@example.com')
				FROM generate_series(1, $1) g`, tt.prior, tt.age)
			if err != nil {
				t.Fatal(err)
			}

			for _, email := range []string{"a@example.com", "B@example.com "} {
				if requestReset(t, db, email) {
					t.Errorf("reset for unknown %s made a link", email)
				}
			}
			if !requestReset(t, db, "pat@example.com") {
				t.Errorf("reset for the active account made no link")
			}
			if diff := cmp.Diff(tt.want, resetAudits(t, db, tt.prior)); diff != "" {
				t.Errorf("reset audit rows (-want +got):\n%s", diff)
			}
		})
	}
}
