package portal

import (
	"sort"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// auditActionLabels are the audit trail's action codes as staff read them
// on the audit pages, where an event appears without the request or tenant
// around it. The CSV export keeps the codes. TestAuditActionLabelsCover
// reads the module's source for the codes it writes, so a new code without
// a label fails the tests.
var auditActionLabels = map[string]string{
	"request.approve":             "Request approved",
	"request.reject":              "Request rejected",
	"request.request_changes":     "Changes requested",
	"request.claim":               "Request claimed for review",
	"request.meeting":             "Configuration meeting recorded",
	"request.test_connection":     "Connection tested",
	"tenant.create":               "Tenant created",
	"tenant.update":               "Tenant updated from a request",
	"tenant.saml":                 "SAML connection set",
	"tenant.saml_replace":         "SAML connection replaced from new metadata",
	"tenant.settings":             "Tenant settings changed",
	"tenant.contact":              "IT contact changed",
	"tenant.drop_location_add":    "Drop location added",
	"tenant.drop_location_remove": "Drop location removed",
	"token.issue":                 "SCIM token issued",
	"token.deliver":               "SCIM token link emailed",
	"token.resend":                "SCIM token link emailed again",
	"token.reveal":                "SCIM token revealed",
	"token.rotate":                "SCIM token rotated",
	"token.revoke":                "SCIM token revoked",
	"certificate.expiry_notice":   "Certificate expiry notice emailed",
	"keys.rewrap":                 "Token deliveries moved to the current master key",
	"keys.reset_sp":               "SAML service provider key replaced",
	"mail.retry":                  "Mail delivery retried",
	"staff.invite":                "Staff member invited",
	"staff.role":                  "Staff role changed",
	"staff.disable":               "Staff account disabled",
	"staff.enable":                "Staff account enabled",
	"staff.password_reset":        "Staff password reset requested",
	"staff.password_set":          "Staff password set",
	"staff.signin":                "Staff member signed in",
	"staff.signin_failed":         "Staff sign-in failed",
	"staff.signin_throttled":      "Staff sign-in throttled",
	"staff.signout":               "Staff member signed out",
	"staff.signout_all":           "Staff member signed out everywhere",
	"user.signin":                 "User signed in",
	"user.signin_refused":         "User sign-in rejected",
}

// auditEventLabel words an audit event's action for staff, with the
// outcome of a connection test from its detail. A code without a label
// is shown as stored.
func auditEventLabel(e tenants.AuditEvent) string {
	if e.Action == "request.test_connection" {
		switch e.Detail["ok"] {
		case true:
			return "Connection test succeeded"
		case false:
			return "Connection test failed"
		}
	}
	if label, ok := auditActionLabels[e.Action]; ok {
		return label
	}
	return e.Action
}

// auditAction is an action code with its label, an option of the audit
// page's action filter.
type auditAction struct {
	Code  string
	Label string
}

// auditActions returns every labeled action, sorted by code.
func auditActions() []auditAction {
	out := make([]auditAction, 0, len(auditActionLabels))
	for code, label := range auditActionLabels {
		out = append(out, auditAction{Code: code, Label: label})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
