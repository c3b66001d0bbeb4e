package database_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
)

func TestOpenSetsStatementTimeout(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewWithURL(t)
	db, err := database.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.Get(&got, "SHOW statement_timeout"); err != nil {
		t.Fatal(err)
	}
	if got != "30s" {
		t.Errorf("statement_timeout = %q, want 30s", got)
	}
}
