package scim

import (
	"net/http/httptest"
	"testing"
)

func TestOperationName(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, path, want string }{
		{"GET", "/scim/v2/Users", "users.list"},
		{"POST", "/scim/v2/Users/.search", "users.search"},
		{"POST", "/scim/v2/Groups/.search", "groups.search"},
		{"GET", "/scim/v2/Users/123", "users.get"},
		{"POST", "/scim/v2/Users", "users.create"},
		{"PUT", "/scim/v2/Users/123", "users.replace"},
		{"PATCH", "/scim/v2/Groups/9", "groups.patch"},
		{"DELETE", "/scim/v2/Groups/9", "groups.delete"},
		{"GET", "/scim/v2/ServiceProviderConfig", "service_provider_config.list"},
		{"GET", "/scim/v2/NoSuchThing/../../etc", "other"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := operationName(r); got != tt.want {
			t.Errorf("operationName(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
