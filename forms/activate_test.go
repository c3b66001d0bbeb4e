package forms_test

import (
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestActivateTenant(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	activate := func(in forms.ActivationInput) (forms.Activation, error) {
		var out forms.Activation
		err := database.WithTx(t.Context(), db, func(tx *sqlx.Tx) error {
			var err error
			out, err = forms.ActivateTenant(t.Context(), tx, in)
			return err
		})
		return out, err
	}
	in := forms.ActivationInput{
		Slug: "acme", Name: "Acme Corp", Product: tenants.MealProgram,
		Settings: tenants.Settings{SCIM: true, RequireSSO: true}, Actor: forms.Operator,
	}

	first, err := activate(in)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Token == "" || !first.Tenant.RequireSSO {
		t.Errorf("first activation: created %v, token issued %v, require SSO %v; want all true", first.Created, first.Token != "", first.Tenant.RequireSSO)
	}

	_, err = activate(in)
	var taken *forms.SlugTakenError
	if !errors.As(err, &taken) || taken.Suggestion != "acme-2" {
		t.Errorf("second create with the same slug = %v, want a SlugTakenError suggesting acme-2", err)
	}

	in.UpdateExisting, in.Name = true, "Acme Corporation"
	second, err := activate(in)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.Token != "" || second.Tenant.Name != "Acme Corporation" {
		t.Errorf("update: created %v, token issued %v, name %q; want an update without a new token", second.Created, second.Token != "", second.Tenant.Name)
	}

	var actions []string
	db.SelectContext(t.Context(), &actions, `SELECT action FROM audit_log ORDER BY id`)
	want := []string{"tenant.create", "token.issue", "tenant.update"}
	if len(actions) != len(want) {
		t.Fatalf("audit actions = %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("audit action %d = %s, want %s", i, actions[i], want[i])
		}
	}
}
