package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// statusView is the data of setup_status.html.
type statusView struct {
	Request    forms.Request
	StatusPath string
	Timeline   []timelineEntry
	// StaffNote is the note of the latest change request or rejection.
	StaffNote string
	SP        spValues
	Guides    idpGuides
	Report    forms.StoredReport
	Warnings  []forms.StoredProblem
	Test      *connectionTest
	// TestMissing lists the attributes a successful test did not receive.
	TestMissing []string
	Done        string // a confirmation of the action just taken
	// Tokens holds the SCIM token rotate and revoke forms, for an approved
	// request whose tenant has SCIM on; nil otherwise.
	Tokens *tokenActions
	// TokenMail is the state of the tenant's newest SCIM token delivery,
	// set only together with Tokens.
	TokenMail tokenMail

	CanWithdraw bool
	CanTest     bool
}

// StateClass returns the badge style for the request's state.
func (v statusView) StateClass() string {
	switch v.Request.State {
	case forms.StateApproved:
		return "ok"
	case forms.StateChangesRequested:
		return "warn"
	case forms.StateRejected, forms.StateWithdrawn:
		return "bad"
	}
	return ""
}

// ShowIdPValues reports whether the IdP values still matter to the contact.
func (v statusView) ShowIdPValues() bool {
	return v.Request.State != forms.StateWithdrawn && v.Request.State != forms.StateRejected
}

// BindingName returns the SSO binding's short name.
func (v statusView) BindingName() string { return forms.Binding(v.Request.SSOBinding).ShortName() }

// timelineEntry is one line of the request's history as the contact reads
// it: staff are "the implementations team", never a named person.
type timelineEntry struct {
	At    time.Time
	Title string
	Actor string
	Note  string
}

// doneMessage confirms the action that a redirect came from (?done=...).
// From and To are the state change that the action made, and an empty From
// matches any state.
type doneMessage struct {
	Text     string
	From, To forms.State
}

// doneMessages are the confirmations by the value of the done parameter.
var doneMessages = map[string]doneMessage{
	"verified": {
		Text: "Your email address is confirmed, and your request is with the implementations team. This is its status page: bookmark it, or come back through the status link in the email.",
		From: forms.StateUnverified, To: forms.StateSubmitted,
	},
	"resubmitted": {
		Text: "Thank you. Your changes are with the implementations team.",
		From: forms.StateChangesRequested, To: forms.StateSubmitted,
	},
	"withdrawn": {Text: "Your request is withdrawn.", To: forms.StateWithdrawn},
}

// doneText returns the confirmation for the done parameter while the
// request's latest event is still the change that the action made, and ""
// after that. The parameter stays in a bookmarked address, so the
// confirmation must disappear once staff move the request on.
func doneText(done string, events []forms.Event) string {
	m, ok := doneMessages[done]
	if !ok || len(events) == 0 {
		return ""
	}
	last := events[len(events)-1]
	if last.ToState != m.To {
		return ""
	}
	if m.From != "" && (last.FromState == nil || *last.FromState != m.From) {
		return ""
	}
	return m.Text
}

func (h *setupHandlers) status(c *gin.Context) error {
	r, secret, err := h.statusRequest(c)
	if err != nil {
		return h.renderLinkError(c, err, "status")
	}
	ctx := c.Request.Context()
	events, err := h.store.Events(ctx, r.ID)
	if err != nil {
		return err
	}

	v := statusView{
		Request:     r,
		StatusPath:  statusPath(secret),
		Timeline:    timeline(events),
		StaffNote:   latestStaffNote(events),
		SP:          h.s.spValuesFor(r.TenantSlug),
		Done:        doneText(c.Query("done"), events),
		CanWithdraw: forms.CanMove(r.State, forms.StateWithdrawn),
		CanTest:     r.VerifiedAt != nil && r.State != forms.StateWithdrawn && r.State != forms.StateRejected,
	}
	if !r.SCIMRequested {
		// setup-sp-values leaves out the SCIM row without a base URL.
		v.SP.SCIMBaseURL = ""
	}
	v.Guides = idpGuides{SP: v.SP, Vendor: r.IdPVendor, SCIM: r.SCIMRequested}
	if err := json.Unmarshal(r.MetadataReport, &v.Report); err == nil {
		v.Warnings = v.Report.Problems
	}
	if v.Tokens, err = h.s.tokenActions(ctx, r, secret); err != nil {
		return err
	}
	if v.Tokens != nil {
		if v.TokenMail, err = h.s.latestTokenMail(ctx, *r.TenantID); err != nil {
			return err
		}
	}
	if v.CanTest {
		if v.Test, err = h.s.loadConnectionTest(ctx, r.ID); err != nil {
			return err
		}
		v.TestMissing = missingAttributes(v.Test)
	}
	return h.s.render(c, http.StatusOK, "setup_status.html", "Request "+r.Reference, v)
}

func timeline(events []forms.Event) []timelineEntry {
	out := make([]timelineEntry, 0, len(events))
	for _, e := range events {
		out = append(out, timelineEntry{At: e.At, Title: eventTitle(e), Actor: actorName(e.Actor), Note: e.Note})
	}
	return out
}

func eventTitle(e forms.Event) string {
	from := forms.State("")
	if e.FromState != nil {
		from = *e.FromState
	}
	switch {
	case e.ToState == forms.StateUnverified:
		return "Request created"
	case from == forms.StateUnverified && e.ToState == forms.StateSubmitted:
		return "Email address confirmed; request sent for review"
	case from == forms.StateChangesRequested && e.ToState == forms.StateSubmitted:
		return "Changes sent for review"
	case e.ToState == forms.StateSubmitted:
		return "Back in the review queue"
	case e.ToState == forms.StateInReview:
		return "Review started"
	}
	return e.ToState.Label()
}

func actorName(actor string) string {
	switch {
	case actor == forms.ActorContact:
		return "you"
	case strings.HasPrefix(actor, "staff:"):
		return "the implementations team"
	}
	return "gatehouse"
}

// latestStaffNote returns the note of the last change request or
// rejection, the one the contact has to act on.
func latestStaffNote(events []forms.Event) string {
	for i := len(events) - 1; i >= 0; i-- {
		switch events[i].ToState {
		case forms.StateChangesRequested, forms.StateRejected:
			return events[i].Note
		case forms.StateSubmitted:
			return ""
		}
	}
	return ""
}

// withdraw moves the request to withdrawn, with the contact's reason.
func (h *setupHandlers) withdraw(c *gin.Context) error {
	r, secret, err := h.statusRequest(c)
	if err != nil {
		return h.renderLinkError(c, err, "status")
	}
	if err := parseSmallForm(c); err != nil {
		return err
	}
	seen, ok := formVersion(c)
	if !ok {
		return userError(http.StatusBadRequest, "The form could not be read. Go back, reload the page and try again.", nil)
	}
	r.Version = seen

	if _, err := h.store.Withdraw(c.Request.Context(), r, c.Request.PostFormValue("reason")); err != nil {
		return stateChangeError(r, err)
	}
	h.s.log.InfoContext(c.Request.Context(), "setup_request_withdrawn", "setup_request_id", r.ID, "reference", r.Reference)
	return redirect(c, statusPath(secret)+"?done=withdrawn")
}

// missingAttributes lists the attributes gatehouse expects that a
// successful test sign-in did not receive.
func missingAttributes(t *connectionTest) []string {
	if t == nil || !t.OK {
		return nil
	}
	var out []string
	for _, want := range []string{attributeEmail, attributeFirstName, attributeLastName} {
		found := false
		for _, a := range t.Attributes {
			found = found || a.Name == want
		}
		if !found {
			out = append(out, want)
		}
	}
	return out
}

// tokenMail is the state of a tenant's newest SCIM token delivery, which
// the approved status page describes.
type tokenMail struct {
	State string // "pending", "revealed", "lapsed" or "" for no delivery
	// At is when a pending link expires, when the token was revealed, or
	// when a lapsed link expired or was replaced.
	At time.Time
}

// latestTokenMail returns the state of the tenant's newest token delivery
// at the server's time.
func (s *Server) latestTokenMail(ctx context.Context, tenantID string) (tokenMail, error) {
	deliveries, err := s.tenants.Deliveries(ctx, tenantID, 1)
	if err != nil || len(deliveries) == 0 {
		return tokenMail{}, err
	}
	d := deliveries[0]
	switch {
	case d.RevealedAt != nil:
		return tokenMail{State: "revealed", At: *d.RevealedAt}, nil
	case d.VoidedAt != nil:
		return tokenMail{State: "lapsed", At: *d.VoidedAt}, nil
	case !s.now().Before(d.ExpiresAt):
		return tokenMail{State: "lapsed", At: d.ExpiresAt}, nil
	}
	return tokenMail{State: "pending", At: d.ExpiresAt}, nil
}
