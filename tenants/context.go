package tenants

import "context"

type requestTenantKey struct{}

// WithRequestTenant returns a context with an empty slot for the slug of
// the tenant a request acts for. The HTTP access log reads it after the
// handler ran, so each log line names its tenant.
func WithRequestTenant(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestTenantKey{}, new(string))
}

// SetRequestTenant records the tenant a request acts for, once the handler
// has authenticated it. It does nothing without WithRequestTenant.
func SetRequestTenant(ctx context.Context, slug string) {
	if slot, ok := ctx.Value(requestTenantKey{}).(*string); ok {
		*slot = slug
	}
}

// RequestTenant returns the slug SetRequestTenant recorded, or "".
func RequestTenant(ctx context.Context) string {
	if slot, ok := ctx.Value(requestTenantKey{}).(*string); ok {
		return *slot
	}
	return ""
}
