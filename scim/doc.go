// Package scim serves the SCIM 2.0 service provider (RFC 7643, RFC 7644)
// of every tenant under /scim/v2: Users with the enterprise extension,
// Groups, search over POST (search.go) and the discovery endpoints. The
// bearer token selects the tenant, and every query is scoped to it. Bulk,
// /Me, sorting and search across resource types are not supported, as
// /ServiceProviderConfig states.
//
// Filters are parsed here and translated to SQL with parameters (see
// filter.go and filter_sql.go); PATCH is applied to a copy of the resource
// and saved only when every operation succeeds (patch.go). Users are saved
// through tenants.Store, which sign-in shares.
//
// Each request runs its writes as one statement or one transaction that
// also checks the token is still active, so a revoked token stops at once
// without a token query per request (auth.go). The per-tenant request log
// and the tokens' last-used times are written in batches in the background
// (requestlog.go); staff read the log with tenants.Store.SCIMRequests.
package scim
