package forms

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TimelineEntry is one line of a request's history on the staff request
// page: a state change or an audited action, worded for people.
type TimelineEntry struct {
	At    time.Time
	Title string // such as "Tenant created"
	// Actor names who acted: a staff member's name (or email when the
	// account is gone), "IT contact", "gatehouse" and the like.
	Actor  string
	Note   string
	Detail map[string]any // the audit event's detail; nil for a state change
}

// timelineSkips lists audit actions that repeat a state change in the same
// transaction, whose history line already shows the decision and its note.
var timelineSkips = map[string]bool{
	"request.approve": true, "request.reject": true, "request.request_changes": true,
}

// timeline merges the request's state changes and its audited actions,
// oldest first.
func (s *Store) timeline(ctx context.Context, id string) ([]TimelineEntry, error) {
	events, err := s.Events(ctx, id)
	if err != nil {
		return nil, err
	}
	audit, err := tenants.NewStore(s.db).AuditLog(ctx, tenants.AuditFilter{RequestID: id, Limit: 1000})
	if err != nil {
		return nil, err
	}
	actors := make([]string, 0, len(events)+len(audit))
	for _, e := range events {
		actors = append(actors, e.Actor)
	}
	for _, a := range audit {
		actors = append(actors, a.Actor)
	}
	names, err := s.staffNames(ctx, actors)
	if err != nil {
		return nil, err
	}

	out := make([]TimelineEntry, 0, len(events)+len(audit))
	for _, e := range events {
		out = append(out, TimelineEntry{At: e.At, Title: stateChangeTitle(e.FromState, e.ToState),
			Actor: actorLabel(e.Actor, names), Note: e.Note})
	}
	// AuditLog lists newest first; events of one transaction share their
	// time, so they are appended oldest first to keep their order.
	for i := len(audit) - 1; i >= 0; i-- {
		a := audit[i]
		if timelineSkips[a.Action] {
			continue
		}
		out = append(out, TimelineEntry{At: a.At, Title: auditTitle(a.Action, a.Detail),
			Actor: actorLabel(a.Actor, names), Detail: a.Detail})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// staffNames maps the email of each staff member among actors to their
// name.
func (s *Store) staffNames(ctx context.Context, actors []string) (map[string]string, error) {
	var emails pq.StringArray
	for _, actor := range actors {
		if email, ok := strings.CutPrefix(actor, staffActorPrefix); ok {
			emails = append(emails, email)
		}
	}
	names := map[string]string{}
	if len(emails) == 0 {
		return names, nil
	}
	var rows []struct {
		Email string `db:"email"`
		Name  string `db:"name"`
	}
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT email, name FROM staff WHERE email = ANY($1)`, emails)
	if err != nil {
		return nil, fmt.Errorf("list staff names: %w", database.Translate(err))
	}
	for _, r := range rows {
		names[r.Email] = r.Name
	}
	return names, nil
}

// actorName returns actorLabel for one actor, looking up a staff member's
// name. An empty actor stays empty.
func (s *Store) actorName(ctx context.Context, actor string) (string, error) {
	if actor == "" {
		return "", nil
	}
	names, err := s.staffNames(ctx, []string{actor})
	if err != nil {
		return "", err
	}
	return actorLabel(actor, names), nil
}

// actorLabel names the actor of an event for staff: a staff member by name
// from names (by email when names has no entry), the other actors by role.
// An actor of an unknown form is shown as stored.
func actorLabel(actor string, names map[string]string) string {
	if email, ok := strings.CutPrefix(actor, staffActorPrefix); ok {
		if name := strings.TrimSpace(names[email]); name != "" {
			return name
		}
		return email
	}
	switch {
	case actor == ActorContact || strings.HasPrefix(actor, ActorContact+":"):
		return "IT contact"
	case actor == "system":
		return "gatehouse"
	case actor == Operator.Name:
		return "Operator, on the command line"
	case actor == "scim":
		return "SCIM client"
	case strings.HasPrefix(actor, "user:"):
		return "Tenant user"
	case actor == "anonymous":
		return "Visitor not signed in"
	}
	return actor
}

// stateChangeTitle words a request's move from state from (nil when the
// request was created) to state to.
func stateChangeTitle(from *State, to State) string {
	switch {
	case from == nil:
		return "Request created"
	case *from == StateUnverified && to == StateSubmitted:
		return "Email address confirmed; request submitted"
	case *from == StateChangesRequested && to == StateSubmitted:
		return "Changes resubmitted"
	case to == StateSubmitted:
		return "Returned to the queue"
	case to == StateInReview:
		return "Review started"
	}
	return to.Label()
}

// auditTitles words the audit actions. TestAuditTitlesCoverActions checks
// that every action the source audits by a literal name has an entry, so
// a timeline shows no raw code.
var auditTitles = map[string]string{
	"request.approve":             "Approved",
	"request.reject":              "Rejected",
	"request.request_changes":     "Changes requested",
	"request.claim":               "Claimed for review",
	"request.meeting":             "Configuration meeting recorded",
	"request.test_connection":     "Connection tested",
	"tenant.create":               "Tenant created",
	"tenant.update":               "Tenant updated",
	"tenant.saml":                 "SAML connection set",
	"tenant.saml_replace":         "SAML connection replaced from new metadata",
	"tenant.settings":             "Tenant settings changed",
	"tenant.contact":              "IT contact changed",
	"tenant.drop_location_add":    "Drop location added",
	"tenant.drop_location_remove": "Drop location removed",
	"token.issue":                 "SCIM token issued",
	"token.deliver":               "Token link emailed",
	"token.resend":                "Token link emailed again",
	"token.reveal":                "SCIM token revealed",
	"token.rotate":                "SCIM token rotated",
	"token.revoke":                "SCIM token revoked",
	"certificate.expiry_notice":   "Certificate expiry notice emailed",
	"keys.rewrap":                 "Encryption keys re-wrapped",
	"keys.reset_sp":               "SAML service provider key replaced",
	"mail.retry":                  "Mail retried",
	"staff.invite":                "Staff member invited",
	"staff.role":                  "Staff role changed",
	"staff.disable":               "Staff account disabled",
	"staff.enable":                "Staff account enabled",
	"staff.password_reset":        "Password reset requested",
	"staff.password_set":          "Password set",
	"staff.signin":                "Signed in",
	"staff.signin_failed":         "Sign-in failed",
	"staff.signin_throttled":      "Sign-in throttled",
	"staff.signout":               "Signed out",
	"staff.signout_all":           "Signed out everywhere",
	"user.signin":                 "User signed in",
	"user.signin_refused":         "User sign-in refused",
}

// auditTitle words an audit action, with the outcome of a connection test
// from its detail. An action missing from auditTitles is shown as stored.
func auditTitle(action string, detail map[string]any) string {
	if action == "request.test_connection" {
		switch detail["ok"] {
		case true:
			return "Connection test succeeded"
		case false:
			return "Connection test failed"
		}
	}
	if title, ok := auditTitles[action]; ok {
		return title
	}
	return action
}
