package database

import (
	"strings"
	"testing"
)

func TestWithTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, notWant string }{
		{"postgres:///db?host=/tmp", "statement_timeout=30s", ""},
		{"postgres://u@h/db?statement_timeout=5s", "statement_timeout=5s", "statement_timeout=30s"},
		{"host=/tmp dbname=db", "statement_timeout=30s", ""},
		{"host=/tmp statement_timeout=1000", "statement_timeout=1000", "statement_timeout=30s"},
	}
	for _, tt := range tests {
		got := withTimeouts(tt.in)
		if !strings.Contains(got, tt.want) || (tt.notWant != "" && strings.Contains(got, tt.notWant)) {
			t.Errorf("withTimeouts(%q) = %q, want it to contain %q", tt.in, got, tt.want)
		}
		if !strings.Contains(got, "idle_in_transaction_session_timeout") {
			t.Errorf("withTimeouts(%q) = %q, want an idle-in-transaction timeout", tt.in, got)
		}
	}
}
