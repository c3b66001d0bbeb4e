package portal

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// maxSetupFormBytes bounds a setup form post: the metadata upload and the
// pasted metadata may each reach forms.MaxMetadataBytes, and the other
// fields are small.
const maxSetupFormBytes = 2*forms.MaxMetadataBytes + 256<<10

// setupForm is the data of setup_form.html and setup_edit.html.
type setupForm struct {
	Action string // the URL the form posts to
	metadataInput
	// Notice is a message about the whole form, such as a rate limit.
	Notice  string
	Vendors []struct{ Key, Name string }
	// SP and Guides show what to enter in the IdP, for the slug so far.
	SP     spValues
	Guides idpGuides

	// Set when editing after a change request.
	Request    *forms.Request
	StatusPath string
	StaffNote  string
	Version    int
	Note       string // the contact's note to staff about the changes
}

// fieldView is one field's messages, as the setup-messages template and
// the field's markup use them.
type fieldView struct {
	Name     string
	Errors   forms.Problems
	Warnings forms.Problems
}

// Invalid reports whether the field has an error.
func (v fieldView) Invalid() bool { return len(v.Errors) > 0 }

// DescribedBy returns the IDs for the field's aria-describedby: its hint
// and its messages.
func (v fieldView) DescribedBy() string {
	ids := []string{"hint-" + v.Name}
	if len(v.Errors) > 0 {
		ids = append(ids, "error-"+v.Name)
	}
	if len(v.Warnings) > 0 {
		ids = append(ids, "warning-"+v.Name)
	}
	return strings.Join(ids, " ")
}

// metadataInput is the IdP metadata part of a form, shown again after a
// post: in the setup form, and in the staff form that replaces a tenant's
// SAML connection.
type metadataInput struct {
	In            forms.SubmissionInput
	Problems      forms.Problems
	EntityChoices []string
	// UploadKept is set when the uploaded file's XML was moved into the
	// paste box, because a file input cannot be filled in again.
	UploadKept string
}

// Field returns the messages of one field.
func (f metadataInput) Field(name string) fieldView {
	p := f.Problems.Field(name)
	return fieldView{Name: name, Errors: p.Errors(), Warnings: p.Warnings()}
}

// Source reports whether the metadata source is s; an untouched form
// starts with the upload.
func (f metadataInput) Source(s string) bool {
	if f.In.MetadataSource == "" {
		return s == forms.SourceUpload
	}
	return f.In.MetadataSource == s
}

// MaxMetadata is the metadata size limit as people read it.
func (metadataInput) MaxMetadata() string {
	return fmt.Sprintf("%d MB", forms.MaxMetadataBytes>>20)
}

func (h *setupHandlers) newForm(action string) setupForm {
	return setupForm{Action: action, Vendors: forms.IdPVendors}
}

// fillSPValues sets the IdP values and guides for slug, or placeholders
// when the slug is not known yet.
func (h *setupHandlers) fillSPValues(form *setupForm, slug string) {
	form.SP = h.s.spValuesFor(slug)
	form.Guides = idpGuides{SP: form.SP, Vendor: form.In.IdPVendor, SCIM: form.In.SCIM != "no"}
}

func (h *setupHandlers) showForm(c *gin.Context) error {
	form := h.newForm("/setup")
	h.fillSPValues(&form, "")
	return h.s.render(c, http.StatusOK, "setup_form.html", "Set up single sign-on", form)
}

// preview shows the form again with the IdP values for the sign-in name
// typed, or one made from the company name, and fills that name in. It
// validates nothing else and stores nothing.
func (h *setupHandlers) preview(c *gin.Context, form setupForm, exceptRequestID string) error {
	slug, problem, err := h.store.PreviewSlug(c.Request.Context(), form.In.CompanyName, form.In.TenantSlug, exceptRequestID)
	if err != nil {
		return err
	}
	if problem != nil {
		form.Problems = forms.Problems{*problem}
	} else {
		form.In.TenantSlug = slug
	}
	h.fillSPValues(&form, slug)
	keepUpload(&form)

	template, title := "setup_form.html", "Set up single sign-on"
	if form.Request != nil {
		template, title = "setup_edit.html", "Change your request"
	}
	status := http.StatusOK
	if problem != nil {
		status = http.StatusUnprocessableEntity
	}
	return h.s.render(c, status, template, title, form)
}

// submit validates the form and, when it has no errors, stores the
// request and mails the verification link. A form with errors is shown
// again as typed, and nothing is stored.
func (h *setupHandlers) submit(c *gin.Context) error {
	now := h.s.now()
	if ok, wait := h.limits.submitByIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	form := h.newForm("/setup")
	in, err := readSetupForm(c)
	if err != nil {
		return err
	}
	form.In = in
	if c.Request.PostFormValue("action") == "preview" {
		return h.preview(c, form, "")
	}

	sub, problems := forms.ValidateSubmission(c.Request.Context(), in, forms.SubmissionOptions{Now: now, Fetch: h.fetcher.Fetch})
	h.fillSPValues(&form, sub.TenantSlug)
	if problems.HasErrors() {
		return h.renderProblems(c, form, sub, problems)
	}
	if ok, wait := h.limits.submitByEmail.allow(emailKey(sub.ContactEmail), now); !ok {
		c.Header("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		form.Notice = tooManyMessage(wait)
		form.Problems = problems
		return h.s.render(c, http.StatusTooManyRequests, "setup_form.html", "Set up single sign-on", form)
	}

	r, err := h.store.Create(c.Request.Context(), sub, h.contactLinks(), now)
	var taken *forms.SlugTakenError
	if errors.As(err, &taken) {
		return h.renderProblems(c, form, sub, append(problems, taken.Problem()))
	}
	if err != nil {
		return err
	}
	h.s.log.InfoContext(c.Request.Context(), "setup_request_created", "setup_request_id", r.ID, "reference", r.Reference)
	return redirect(c, "/setup/sent?reference="+r.Reference)
}

// renderProblems shows the form again with its problems (status 422). An
// uploaded document moves into the paste box, since browsers never fill in
// a file input.
func (h *setupHandlers) renderProblems(c *gin.Context, form setupForm, sub forms.Submission, problems forms.Problems) error {
	form.Problems = problems
	form.EntityChoices = sub.Report.EntityChoices
	keepUpload(&form)
	dropPrivateKeys(&form.In)
	noStore(c)
	template, title := "setup_form.html", "Set up single sign-on"
	if form.Request != nil {
		template, title = "setup_edit.html", "Change your request"
	}
	return h.s.render(c, http.StatusUnprocessableEntity, template, title, form)
}

// dropPrivateKeys empties the text boxes that contain a private key, so
// the page does not send the key back; the field's error says to remove it.
func dropPrivateKeys(in *forms.SubmissionInput) {
	for _, text := range []*string{&in.Certificate, &in.MetadataXML} {
		if strings.Contains(*text, "PRIVATE KEY-----") {
			*text = ""
		}
	}
}

// keepUpload moves an uploaded document into the paste box, because
// browsers never fill in a file input again. A file with problems of its
// own (not text, wrong type) stays out of the box.
func keepUpload(form *setupForm) {
	in := &form.In
	if in.MetadataSource != forms.SourceUpload || in.MetadataXML == "" || !utf8.ValidString(in.MetadataXML) ||
		form.Field(forms.FieldMetadataFile).Invalid() {
		return
	}
	form.UploadKept = orFileName(in.MetadataFileName)
	in.MetadataSource = forms.SourcePaste
}

func orFileName(name string) string {
	if name == "" {
		return "your file"
	}
	return name
}

// sent tells the contact to look for the verification mail.
func (h *setupHandlers) sent(c *gin.Context) error {
	reference := c.Query("reference")
	if !looksLikeReference(reference) {
		reference = ""
	}
	return h.s.render(c, http.StatusOK, "setup_sent.html", "Check your email", reference)
}

// looksLikeReference reports whether s has the shape of forms.NewReference.
func looksLikeReference(s string) bool {
	if len(s) != 12 || !strings.HasPrefix(s, "GH-") || s[7] != '-' {
		return false
	}
	return strings.Trim(s[3:7]+s[8:], "ABCDEFGHJKMNPQRSTUVWXYZ23456789") == ""
}

// readSetupForm reads the form post, multipart (with the metadata upload)
// or URL-encoded, within maxSetupFormBytes.
func readSetupForm(c *gin.Context) (forms.SubmissionInput, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSetupFormBytes)
	if err := parseSetupBody(c.Request); err != nil {
		return forms.SubmissionInput{}, err
	}

	value := func(name string) string { return c.Request.PostFormValue(name) }
	in := forms.SubmissionInput{
		CompanyName: value(forms.FieldCompanyName), EmailDomains: value(forms.FieldEmailDomains),
		Product: value(forms.FieldProduct), ContactName: value(forms.FieldContactName),
		ContactEmail: value(forms.FieldContactEmail), ContactPhone: value(forms.FieldContactPhone),
		TenantSlug: value(forms.FieldTenantSlug), IdPVendor: value(forms.FieldIdPVendor),
		MetadataSource: value(forms.FieldMetadataSource), MetadataURL: value(forms.FieldMetadataURL),
		EntityChoice: value(forms.FieldEntityChoice), EntityID: value(forms.FieldEntityID),
		SSOURL: value(forms.FieldSSOURL), SSOBinding: value(forms.FieldSSOBinding),
		Certificate: value(forms.FieldCertificate), SCIM: value(forms.FieldSCIM),
		RequireSSO: value("require_sso") == "on", Autoprovision: value(forms.FieldAutoprovision) == "on",
		Notes: value(forms.FieldNotes),
	}
	switch in.MetadataSource {
	case forms.SourcePaste:
		in.MetadataXML = value(forms.FieldMetadata)
	case forms.SourceUpload:
		if err := readUpload(c.Request, &in); err != nil {
			return forms.SubmissionInput{}, err
		}
	}
	return in, nil
}

// parseSetupBody parses a multipart or URL-encoded body; anything else, or
// a body past the size limit, is a client error.
func parseSetupBody(r *http.Request) error {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch mediaType {
	case "multipart/form-data":
		err = r.ParseMultipartForm(maxSetupFormBytes)
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	default:
		return userError(http.StatusUnsupportedMediaType, "Send the setup form from the setup page.", fmt.Errorf("content type %q", mediaType))
	}

	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return userError(http.StatusRequestEntityTooLarge, fmt.Sprintf("The form was larger than we accept. "+
			"The metadata file and the pasted metadata may each be at most %d MB; go back and remove what is not needed.",
			forms.MaxMetadataBytes>>20), err)
	case err != nil:
		return userError(http.StatusBadRequest, "The form could not be read. Go back and send it again.", err)
	}
	return nil
}

// readUpload reads the metadata file into in, unless it exceeds
// forms.MaxMetadataBytes, in which case only its size is recorded.
func readUpload(r *http.Request, in *forms.SubmissionInput) error {
	if r.MultipartForm == nil || len(r.MultipartForm.File["metadata_file"]) == 0 {
		return nil
	}
	header := r.MultipartForm.File["metadata_file"][0]
	in.MetadataFileName = header.Filename
	in.MetadataFileType = header.Header.Get("Content-Type")
	in.MetadataFileSize = header.Size
	if header.Size > forms.MaxMetadataBytes || header.Size == 0 {
		return nil
	}

	file, err := header.Open()
	if err != nil {
		return fmt.Errorf("open metadata upload: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, forms.MaxMetadataBytes+1))
	if err != nil {
		return fmt.Errorf("read metadata upload: %w", err)
	}
	in.MetadataXML = string(data)
	return nil
}
