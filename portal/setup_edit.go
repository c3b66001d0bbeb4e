package portal

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
)

// maxSmallFormBytes bounds posts that carry no metadata: withdraw, verify
// and re-send.
const maxSmallFormBytes = 16 << 10

// showEdit shows the form filled with the request, when staff asked for
// changes.
func (h *setupHandlers) showEdit(c *gin.Context) error {
	r, secret, err := h.statusRequest(c)
	if err != nil {
		return h.renderLinkError(c, err, "status")
	}
	if r.State != forms.StateChangesRequested {
		return redirect(c, statusPath(secret))
	}
	form, err := h.editForm(c, r, statusPath(secret))
	if err != nil {
		return err
	}
	form.In = inputFromRequest(r)
	form.Version = r.Version
	h.fillSPValues(&form, r.TenantSlug)
	return h.s.render(c, http.StatusOK, "setup_edit.html", "Change your request", form)
}

func (h *setupHandlers) editForm(c *gin.Context, r forms.Request, path string) (setupForm, error) {
	events, err := h.store.Events(c.Request.Context(), r.ID)
	if err != nil {
		return setupForm{}, err
	}
	form := h.newForm(path + "/edit")
	form.Request, form.StatusPath, form.StaffNote = &r, path, latestStaffNote(events)
	return form, nil
}

// resubmit validates the changed form and sends the request back to
// review. The contact's email address stays as confirmed.
func (h *setupHandlers) resubmit(c *gin.Context) error {
	now := h.s.now()
	if ok, wait := h.limits.submitByIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	r, secret, err := h.statusRequest(c)
	if err != nil {
		return h.renderLinkError(c, err, "status")
	}
	in, err := readSetupForm(c)
	if err != nil {
		return err
	}
	in.ContactEmail = r.ContactEmail
	form, err := h.editForm(c, r, statusPath(secret))
	if err != nil {
		return err
	}
	form.In, form.Note = in, c.Request.PostFormValue("resubmit_note")
	form.Version, _ = formVersion(c)
	if c.Request.PostFormValue("action") == "preview" {
		return h.preview(c, form, r.ID)
	}

	sub, problems := forms.ValidateSubmission(c.Request.Context(), in, forms.SubmissionOptions{Now: now, Fetch: h.fetcher.Fetch})
	h.fillSPValues(&form, sub.TenantSlug)
	if problems.HasErrors() {
		return h.renderProblems(c, form, sub, problems)
	}
	r.Version = form.Version
	_, err = h.store.Resubmit(c.Request.Context(), r, sub, form.Note)
	var taken *forms.SlugTakenError
	if errors.As(err, &taken) {
		return h.renderProblems(c, form, sub, append(problems, taken.Problem()))
	}
	if err != nil {
		return stateChangeError(r, err)
	}
	h.s.log.InfoContext(c.Request.Context(), "setup_request_resubmitted", "setup_request_id", r.ID, "reference", r.Reference)
	return redirect(c, statusPath(secret)+"?done=resubmitted")
}

// inputFromRequest fills the form from a stored request: its metadata in
// the paste box, or the values entered by hand.
func inputFromRequest(r forms.Request) forms.SubmissionInput {
	in := forms.SubmissionInput{
		CompanyName: r.CompanyName, EmailDomains: joinComma(r.EmailDomains), Product: string(r.Product),
		ContactName: r.ContactName, ContactEmail: r.ContactEmail, ContactPhone: r.ContactPhone,
		TenantSlug: r.TenantSlug, IdPVendor: r.IdPVendor, SCIM: "no",
		RequireSSO: r.RequireSSO, Autoprovision: r.Autoprovision, Notes: r.Notes,
	}
	if r.SCIMRequested {
		in.SCIM = "yes"
	}
	if r.MetadataXML != "" {
		in.MetadataSource, in.MetadataXML = forms.SourcePaste, r.MetadataXML
		return in
	}
	in.MetadataSource = forms.SourceManual
	in.EntityID, in.SSOURL = r.IdPEntityID, r.SSOURL
	in.SSOBinding = forms.Binding(r.SSOBinding).ShortName()
	for _, der := range r.Certificates {
		in.Certificate += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	return in
}

// stateChangeError explains a state change that could not be made.
func stateChangeError(r forms.Request, err error) error {
	switch {
	case errors.Is(err, forms.ErrInvalidTransition):
		return userError(http.StatusConflict, fmt.Sprintf("Request %s can no longer be changed this way: it is now %s. "+
			"Reload its status page to see why.", r.Reference, r.State.Label()), err)
	case errors.Is(err, database.ErrConflict):
		return userError(http.StatusConflict, fmt.Sprintf("Request %s changed while you were looking at it. "+
			"Reload its status page to see what changed, then try again.", r.Reference), err)
	}
	return err
}

// parseSmallForm parses a URL-encoded form of at most maxSmallFormBytes.
func parseSmallForm(c *gin.Context) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSmallFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		return userError(http.StatusBadRequest, "The form could not be read. Go back and send it again.", err)
	}
	return nil
}

// formVersion returns the request version the page was rendered with.
func formVersion(c *gin.Context) (int, bool) {
	v, err := strconv.Atoi(c.Request.PostFormValue("version"))
	return v, err == nil && v > 0
}

func joinComma(list []string) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
