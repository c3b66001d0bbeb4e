package pgtest

import (
	"context"
	"testing"
)

func TestNewGivesSeparateDatabases(t *testing.T) {
	t.Parallel()
	a := New(t)
	b := New(t)
	ctx := context.Background()

	if _, err := a.ExecContext(ctx, "INSERT INTO tenants (slug, name, product) VALUES ('acme', 'Acme', 'meal_program')"); err != nil {
		t.Fatalf("insert tenant: %v", err)
	}
	var count int
	if err := b.GetContext(ctx, &count, "SELECT count(*) FROM tenants"); err != nil {
		t.Fatalf("count tenants: %v", err)
	}
	if count != 0 {
		t.Errorf("second database has %d tenants, want 0", count)
	}
}
