package portal

import (
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// samlForm is the data of the form that replaces a tenant's SAML connection
// from new metadata, on the tenant page and on staff_tenant_saml.html.
type samlForm struct {
	Tenant tenants.Tenant
	metadataInput
	// KeepCurrent is set to keep trusting the current certificates that
	// the new metadata does not list, while they are valid.
	KeepCurrent bool
	// Seen is the UpdatedAt of the connection the diff was computed
	// against, or "" when the tenant has none.
	Seen   string
	Diff   *samlDiffView
	Notice string
}

// samlDiffView is a forms.SAMLDiff with each certificate's days to expiry.
type samlDiffView struct {
	forms.SAMLDiff
	Certificates []diffCertificate
}

type diffCertificate struct {
	forms.CertificateChange
	DaysLeft int
	Class    string // "ok", "warn" (under 30 days) or "bad" (expired)
}

// samlStepSave is the value of the step field that saves. Any other value
// validates the metadata and shows the diff.
const samlStepSave = "save"

// replaceSAML validates new metadata for the tenant in the URL. With
// errors it shows the form again with each problem beside its field.
// Without, it shows what would change, and on the confirmation (step=save)
// it replaces the connection and its certificates in one transaction.
func (h *staffHandlers) replaceSAML(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	in, err := readSAMLForm(c)
	if err != nil {
		return err
	}
	form := samlForm{Tenant: t, metadataInput: metadataInput{In: in}, KeepCurrent: c.PostForm("keep_current") == "on"}
	current, err := h.currentSAML(c, t.ID)
	if err != nil {
		return err
	}

	now := h.s.now()
	checked := forms.CheckSAMLReplacement(c.Request.Context(), in, now)
	form.Problems, form.EntityChoices = checked.Problems, checked.Report.EntityChoices
	if checked.Connection == nil {
		keepSAMLUpload(&form)
		return h.s.render(c, http.StatusUnprocessableEntity, "staff_tenant_saml.html", "Replace the SAML connection", form)
	}

	next := *checked.Connection
	if form.KeepCurrent && current != nil {
		next = forms.KeepCurrentCertificates(next, current.Certificates, now)
	}
	form.Diff = newSAMLDiffView(forms.DiffSAMLConnections(current, next), now)
	version := samlVersion(current)
	if c.PostForm("step") != samlStepSave {
		return h.showSAMLDiff(c, form, version, "")
	}
	if c.PostForm("seen") != version {
		return h.showSAMLDiff(c, form, version, "Someone changed this SAML connection after you checked the metadata. "+
			"Review the changes against the current connection below, then save again.")
	}
	return h.saveSAML(c, t, next, current)
}

// showSAMLDiff shows the changes with a form that saves them. The metadata
// goes back as pasted XML, since a file input cannot be filled in again.
func (h *staffHandlers) showSAMLDiff(c *gin.Context, form samlForm, version, notice string) error {
	if form.In.MetadataSource == forms.SourceUpload {
		form.UploadKept = orFileName(form.In.MetadataFileName)
		form.In.MetadataSource = forms.SourcePaste
	}
	form.Seen, form.Notice = version, notice
	return h.s.render(c, http.StatusOK, "staff_tenant_saml.html", "Replace the SAML connection", form)
}

func (h *staffHandlers) saveSAML(c *gin.Context, t tenants.Tenant, next tenants.SAMLConnection, current *tenants.SAMLConnection) error {
	var seen time.Time
	if current != nil {
		seen = current.UpdatedAt
	}
	actor := actorOf(c)
	err := database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		return forms.ReplaceSAMLConnection(c.Request.Context(), tx, actor, t.ID, next, seen)
	})
	if err != nil {
		return staffError(err)
	}
	h.s.log.InfoContext(c.Request.Context(), "saml_connection_replaced", logAttrs(c, "tenant_id", t.ID, "certificates", len(next.Certificates))...)
	return redirect(c, "/staff/tenants/"+t.Slug+"?done=saml#saml")
}

// currentSAML returns the tenant's SAML connection, or nil when it has none.
func (h *staffHandlers) currentSAML(c *gin.Context, tenantID string) (*tenants.SAMLConnection, error) {
	conn, err := h.s.tenants.SAMLConnection(c.Request.Context(), tenantID)
	switch {
	case database.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &conn, nil
}

// samlVersion is the hidden seen field's value for the connection.
func samlVersion(conn *tenants.SAMLConnection) string {
	if conn == nil {
		return ""
	}
	return conn.UpdatedAt.UTC().Format(time.RFC3339Nano)
}

// readSAMLForm reads the metadata form post within the setup form's size
// limit: the upload or the pasted XML, and the entity chosen from an
// aggregate.
func readSAMLForm(c *gin.Context) (forms.SubmissionInput, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSetupFormBytes)
	if err := parseSetupBody(c.Request); err != nil {
		return forms.SubmissionInput{}, err
	}
	value := c.Request.PostFormValue
	in := forms.SubmissionInput{
		MetadataSource: value(forms.FieldMetadataSource), EntityChoice: value(forms.FieldEntityChoice),
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

// keepSAMLUpload moves an uploaded text document into the paste box when
// the form is shown again with problems, as the setup form does.
func keepSAMLUpload(form *samlForm) {
	in := &form.In
	if in.MetadataSource != forms.SourceUpload || in.MetadataXML == "" || !utf8.ValidString(in.MetadataXML) ||
		form.Field(forms.FieldMetadataFile).Invalid() {
		return
	}
	form.UploadKept = orFileName(in.MetadataFileName)
	in.MetadataSource = forms.SourcePaste
}

func newSAMLDiffView(d forms.SAMLDiff, now time.Time) *samlDiffView {
	v := &samlDiffView{SAMLDiff: d}
	for _, c := range d.Certificates {
		cert := diffCertificate{CertificateChange: c, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24), Class: "ok"}
		switch {
		case !now.Before(c.NotAfter):
			cert.Class = "bad"
		case cert.DaysLeft < 30:
			cert.Class = "warn"
		}
		v.Certificates = append(v.Certificates, cert)
	}
	return v
}
