package scim

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestStoreErrorStatuses checks the response each error of the store gets,
// wrapped as the store wraps it, so none of them ends as a 500.
func TestStoreErrorStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err          error
		wantStatus   int
		wantSCIMType string
	}{
		{tenants.ErrUnauthorized, http.StatusUnauthorized, ""},
		{tenants.ErrUnknownMember, http.StatusBadRequest, invalidValue},
		{tenants.ErrStale, http.StatusPreconditionFailed, ""},
		{tenants.ErrSettingsChanged, http.StatusServiceUnavailable, ""},
		{database.ErrNotFound, http.StatusNotFound, ""},
		{database.ErrConflict, http.StatusConflict, uniqueness},
		{database.ErrInvalidText, http.StatusBadRequest, invalidValue},
		{database.ErrUnavailable, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			got := toSCIMError(fmt.Errorf("create user: %w", tt.err))
			if got.status != tt.wantStatus || got.scimType != tt.wantSCIMType {
				t.Errorf("status %d, scimType %q; want %d, %q", got.status, got.scimType, tt.wantStatus, tt.wantSCIMType)
			}
		})
	}
}
