package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// requestView is the staff request page's data.
type requestView struct {
	forms.RequestDetail
	Certificates []certificateView
	Errors       []forms.Problem
	Warnings     []forms.Problem
	Tenant       *tenants.Tenant
	DomainMatch  bool
	Open         bool // staff can still decide
	CanClaim     bool
	Mine         bool
	NeedsMeeting bool
	Notice       string
	Problem      string // an action failed; shown above the page
	Form         decisionForm
}

// decisionForm keeps what staff typed when an action fails.
type decisionForm struct {
	Action, Note, Slug, MeetingOn, MeetingNote string
}

// certificateView is a signing certificate with its expiry as staff judge it.
type certificateView struct {
	forms.Certificate
	DaysLeft int
	Class    string // "ok", "warn" (under 30 days) or "bad" (expired)
}

func (h *staffHandlers) request(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	view, err := h.requestView(c, id)
	if err != nil {
		return err
	}
	view.Notice = requestNotice(c.Query("done"))
	return h.s.render(c, http.StatusOK, "staff_request.html", "Request "+view.Request.Reference, view)
}

func requestNotice(done string) string {
	switch done {
	case "claimed":
		return "You claimed the request."
	case "approved":
		return "Approved. The tenant is active and the contact was emailed."
	case "rejected":
		return "Rejected. The contact was emailed."
	case "changes_requested":
		return "Changes requested. The contact was emailed."
	case "meeting":
		return "The configuration meeting is recorded."
	}
	return ""
}

func (h *staffHandlers) requestView(c *gin.Context, id string) (requestView, error) {
	ctx := c.Request.Context()
	now := h.s.now()
	detail, err := h.requests.Detail(ctx, id, now)
	if err != nil {
		return requestView{}, err
	}
	r := detail.Request
	view := requestView{
		RequestDetail: detail,
		Errors:        detail.Report.Errors(),
		Warnings:      detail.Report.Warnings(),
		DomainMatch:   !r.ContactOutsideDomains,
		Open:          forms.CanMove(r.State, forms.StateApproved),
		CanClaim:      r.State == forms.StateSubmitted || r.State == forms.StateInReview,
		Mine:          r.ClaimedBy != nil && *r.ClaimedBy == currentStaff(c).ID,
		NeedsMeeting:  r.Product == tenants.Marketplace && detail.Meeting.On == nil,
		Form:          decisionForm{Slug: r.TenantSlug},
	}
	if md := detail.Report.Metadata; md != nil {
		for _, cert := range md.SigningCerts {
			view.Certificates = append(view.Certificates, newCertificateView(cert, now))
		}
	}
	if r.TenantID != nil {
		t, err := h.s.tenants.ByID(ctx, *r.TenantID)
		if err != nil {
			return requestView{}, err
		}
		view.Tenant = &t
	}
	return view, nil
}

func newCertificateView(cert forms.Certificate, now time.Time) certificateView {
	v := certificateView{Certificate: cert, DaysLeft: int(cert.NotAfter.Sub(now).Hours() / 24), Class: "ok"}
	switch {
	case !now.Before(cert.NotAfter):
		v.Class = "bad"
	case v.DaysLeft < 30:
		v.Class = "warn"
	}
	return v
}

// decide applies approve, reject or request changes. A failure the staff
// member can act on (a conflict, a taken slug, a missing meeting) shows
// the request again, as it is now, with the message and their note kept.
func (h *staffHandlers) decide(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	version, err := versionField(c)
	if err != nil {
		return err
	}
	form := decisionForm{Action: c.PostForm("action"), Note: c.PostForm("note"), Slug: strings.TrimSpace(c.PostForm("slug"))}
	to := map[string]forms.State{
		"approve": forms.StateApproved, "reject": forms.StateRejected, "request_changes": forms.StateChangesRequested,
	}[form.Action]
	if to == "" {
		return userError(http.StatusBadRequest, "Choose approve, request changes or reject.", nil)
	}

	_, err = h.flow.Decide(c.Request.Context(), forms.Decision{
		RequestID: id, Version: version, To: to, Note: form.Note, Slug: form.Slug, Actor: actorOf(c),
	})
	if err != nil {
		return h.requestProblem(c, id, form, err)
	}
	return redirect(c, "/staff/requests/"+id+"?done="+string(to))
}

// requestProblem renders the request page with the public message of err,
// or returns err when it has none.
func (h *staffHandlers) requestProblem(c *gin.Context, id string, form decisionForm, err error) error {
	var public *publicError
	if !errors.As(staffError(err), &public) || errors.Is(err, database.ErrNotFound) {
		return err
	}
	view, viewErr := h.requestView(c, id)
	if viewErr != nil {
		return viewErr
	}
	view.Problem = public.message
	if form.Slug == "" {
		form.Slug = view.Form.Slug
	}
	if errors.Is(err, database.ErrConflict) {
		form.Action = "" // the choice may no longer fit the request's state
	}
	view.Form = form
	h.s.log.InfoContext(c.Request.Context(), "staff_action_rejected", logAttrs(c, "reason", err.Error())...)
	return h.s.render(c, public.status, "staff_request.html", "Request "+view.Request.Reference, view)
}

func (h *staffHandlers) recordMeeting(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	version, err := versionField(c)
	if err != nil {
		return err
	}
	form := decisionForm{MeetingOn: c.PostForm("meeting_on"), MeetingNote: c.PostForm("meeting_note")}
	on, parseErr := time.Parse(time.DateOnly, form.MeetingOn)
	if parseErr != nil {
		on = time.Time{}
	}
	err = h.flow.RecordMeeting(c.Request.Context(), actorOf(c), id, version, on, form.MeetingNote)
	if err != nil {
		return h.requestProblem(c, id, form, err)
	}
	return redirect(c, "/staff/requests/"+id+"?done=meeting")
}
