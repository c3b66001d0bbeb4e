package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func (h *staffHandlers) registerTenants(g *gin.RouterGroup) {
	g.GET("/tenants", h.s.handle(h.tenantList))
	g.GET("/tenants/:slug", h.s.handle(h.tenant))
	g.GET("/tenants/:slug/audit.csv", h.s.handle(h.tenantAuditCSV))
	g.POST("/tenants/:slug/settings", h.s.handle(h.tenantSettings))
	g.POST("/tenants/:slug/contact", h.s.handle(h.tenantContact))
	g.POST("/tenants/:slug/saml", h.s.requireAdmin, h.s.handle(h.replaceSAML))
	g.POST("/tenants/:slug/drop-locations", h.s.handle(h.addDropLocation))
	g.POST("/tenants/:slug/drop-locations/:id/remove", h.s.handle(h.removeDropLocation))
	g.POST("/tenants/:slug/tokens/issue", h.s.handle(h.issueToken))
	g.POST("/tenants/:slug/tokens/resend", h.s.handle(h.resendToken))
	g.POST("/tenants/:slug/tokens/rotate", h.s.handle(h.rotateToken))
	g.POST("/tenants/:slug/tokens/:id/revoke", h.s.handle(h.revokeToken))
}

func (h *staffHandlers) tenantList(c *gin.Context) error {
	list, err := h.s.tenants.List(c.Request.Context())
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, "staff_tenants.html", "Tenants", list)
}

// tenantView is the tenant page's data.
type tenantView struct {
	Tenant        tenants.Tenant
	Contact       tenants.Contact
	SAML          *tenants.SAMLConnection
	Certificates  []tenantCertificate
	DropLocations []tenants.DropLocation
	Tokens        []tokenView
	Deliveries    []tenants.Delivery
	Audit         []tenants.AuditEvent
	Grace         string // the rotation grace period, as people read it
	Now           time.Time
	Notice        string
	// NoticeClass styles Notice: "ok" for a done action, "warn" for one
	// that could not be done.
	NoticeClass string
	// SAMLForm is the form that replaces the SAML connection from new
	// metadata, set only for admins.
	SAMLForm *samlForm
	// CanResend is set when a delivery is still waiting to be revealed, so
	// re-sending its link can work.
	CanResend bool
	SCIMLog   []tenants.SCIMRequest
	// SCIMLogNext is the link to the next older page of the SCIM log.
	SCIMLogNext string
}

// scimLogPageSize is how many SCIM requests the tenant page lists at once.
const scimLogPageSize = 50

type tenantCertificate struct {
	tenants.IdPCertificate
	Subject  string
	DaysLeft int
	Class    string
}

type tokenView struct {
	tenants.TokenRecord
	Status tenants.TokenStatus
}

// tenantBySlug loads the tenant named in the URL.
func (h *staffHandlers) tenantBySlug(c *gin.Context) (tenants.Tenant, error) {
	slug := c.Param("slug")
	if !tenants.ValidSlug(slug) {
		return tenants.Tenant{}, errNotFound
	}
	return h.s.tenants.BySlug(c.Request.Context(), slug)
}

// tenant shows a tenant with its settings, SAML connection, drop
// locations, tokens, SCIM request log and recent audit trail.
func (h *staffHandlers) tenant(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	view, err := h.tenantView(c, t)
	if err != nil {
		return err
	}
	view.Notice, view.NoticeClass = tenantNotice(c.Query("done"))
	if staff := currentStaff(c); staff != nil && staff.IsAdmin() {
		view.SAMLForm = &samlForm{Tenant: t, KeepCurrent: true}
	}
	return h.s.render(c, http.StatusOK, "staff_tenant.html", t.Name, view)
}

// tenantNotice returns the message and style of the notice that the done
// query parameter names, after an action redirected back to the page.
func tenantNotice(done string) (string, string) {
	if done == "nothing_to_resend" {
		return "There is no link to re-send: the contact already revealed the token, or its link expired or was " +
			"replaced. Rotate the token to email the contact a new one.", "warn"
	}
	text := map[string]string{
		"settings":         "Settings saved.",
		"contact":          "Contact saved.",
		"location_added":   "Drop location added.",
		"location_removed": "Drop location removed.",
		"issued":           "A new token was issued and its reveal link emailed to the contact.",
		"resent":           "A new reveal link was emailed to the contact. The earlier link no longer works.",
		"rotated":          "The token was rotated. The new one was emailed to the contact; the old ones work until their grace period ends.",
		"revoked":          "The token was revoked. It no longer authenticates.",
		"saml":             "The SAML connection was replaced. The next sign-in is checked against the new certificates.",
	}[done]
	return text, "ok"
}

func (h *staffHandlers) tenantView(c *gin.Context, t tenants.Tenant) (tenantView, error) {
	ctx := c.Request.Context()
	store := h.s.tenants
	view := tenantView{Tenant: t, Now: h.s.now(), Grace: graceText(h.flow.RotationGrace())}
	var err error
	if view.Contact, err = store.Contact(ctx, t.ID); err != nil {
		return tenantView{}, err
	}
	if conn, err := store.SAMLConnection(ctx, t.ID); err == nil {
		view.SAML = &conn
	} else if !database.IsNotFound(err) {
		return tenantView{}, err
	}
	certs, err := store.Certificates(ctx, t.ID)
	if err != nil {
		return tenantView{}, err
	}
	for _, cert := range certs {
		view.Certificates = append(view.Certificates, newTenantCertificate(cert, view.Now))
	}
	if view.DropLocations, err = store.DropLocations(ctx, t.ID); err != nil {
		return tenantView{}, err
	}
	if err := h.tokenViews(c, &view); err != nil {
		return tenantView{}, err
	}
	if err := h.scimLog(c, &view); err != nil {
		return tenantView{}, err
	}
	view.Audit, err = store.AuditLog(ctx, tenants.AuditFilter{TenantID: t.ID, Limit: 50})
	return view, err
}

// scimLog loads a page of the tenant's SCIM request log, older than the
// scim_before query parameter when it is set.
func (h *staffHandlers) scimLog(c *gin.Context, view *tenantView) error {
	before, _ := strconv.ParseInt(c.Query("scim_before"), 10, 64)
	entries, err := h.s.tenants.SCIMRequests(c.Request.Context(), view.Tenant.ID, max(before, 0), scimLogPageSize)
	if err != nil {
		return err
	}
	view.SCIMLog = entries
	if len(entries) == scimLogPageSize {
		view.SCIMLogNext = fmt.Sprintf("/staff/tenants/%s?scim_before=%d#scimlog", view.Tenant.Slug, entries[len(entries)-1].ID)
	}
	return nil
}

func (h *staffHandlers) tokenViews(c *gin.Context, view *tenantView) error {
	tokens, err := h.s.tenants.Tokens(c.Request.Context(), view.Tenant.ID)
	if err != nil {
		return err
	}
	for _, rec := range tokens {
		view.Tokens = append(view.Tokens, tokenView{TokenRecord: rec, Status: rec.Status(view.Now)})
	}
	view.Deliveries, err = h.s.tenants.Deliveries(c.Request.Context(), view.Tenant.ID, 10)
	for _, d := range view.Deliveries {
		if d.RevealedAt == nil && d.VoidedAt == nil && view.Now.Before(d.ExpiresAt) {
			view.CanResend = true
		}
	}
	return err
}

func newTenantCertificate(cert tenants.IdPCertificate, now time.Time) tenantCertificate {
	v := tenantCertificate{IdPCertificate: cert, Subject: cert.Subject(), DaysLeft: int(cert.NotAfter.Sub(now).Hours() / 24), Class: "ok"}
	switch {
	case !now.Before(cert.NotAfter):
		v.Class = "bad"
	case v.DaysLeft < 30:
		v.Class = "warn"
	}
	return v
}

// tenantSettings saves the settings switches. The hidden updated_at field
// detects a concurrent change.
func (h *staffHandlers) tenantSettings(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	seen, err := time.Parse(time.RFC3339Nano, c.PostForm("updated_at"))
	if err != nil {
		return userError(http.StatusBadRequest, "The form is missing its version. Reload the page and try again.", err)
	}
	set := tenants.Settings{
		SCIM: c.PostForm("scim") == "on", RequireSSO: c.PostForm("require_sso") == "on",
		Autoprovision: c.PostForm("autoprovision") == "on", IdPInitiated: c.PostForm("idp_initiated") == "on",
		AllowSHA1: c.PostForm("allow_sha1") == "on",
	}
	actor := actorOf(c)
	err = database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		updated, err := h.s.tenants.WithTx(tx).UpdateSettingsIfUnchanged(c.Request.Context(), t.ID, set, seen)
		if err != nil {
			return err
		}
		return forms.Audit(c.Request.Context(), tx, actor, "tenant.settings", t.ID, map[string]any{
			"before": settingsDetail(t.Settings), "after": settingsDetail(updated.Settings),
		})
	})
	if err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/tenants/"+t.Slug+"?done=settings")
}

func settingsDetail(s tenants.Settings) map[string]bool {
	return map[string]bool{
		"scim": s.SCIM, "require_sso": s.RequireSSO, "autoprovision": s.Autoprovision,
		"idp_initiated": s.IdPInitiated, "allow_sha1": s.AllowSHA1,
	}
}

func (h *staffHandlers) tenantContact(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	contact, err := forms.CheckContact(c.PostForm("contact_name"), c.PostForm("contact_email"))
	if err != nil {
		return staffError(err)
	}
	actor := actorOf(c)
	err = database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		if err := h.s.tenants.WithTx(tx).SetContact(c.Request.Context(), t.ID, contact); err != nil {
			return err
		}
		return forms.Audit(c.Request.Context(), tx, actor, "tenant.contact", t.ID,
			map[string]any{"name": contact.Name, "email": contact.Email})
	})
	if err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/tenants/"+t.Slug+"?done=contact")
}

func (h *staffHandlers) addDropLocation(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	actor := actorOf(c)
	err = database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		d, err := h.s.tenants.WithTx(tx).AddDropLocation(c.Request.Context(), t.ID, c.PostForm("name"))
		if err != nil {
			return err
		}
		return forms.Audit(c.Request.Context(), tx, actor, "tenant.drop_location_add", t.ID,
			map[string]any{"drop_location_id": d.ID, "name": d.Name})
	})
	if err != nil {
		if errors.Is(err, database.ErrConflict) {
			return userError(http.StatusConflict, "The tenant already has a drop location with that name.", err)
		}
		return staffError(err)
	}
	return redirect(c, "/staff/tenants/"+t.Slug+"?done=location_added")
}

func (h *staffHandlers) removeDropLocation(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	actor := actorOf(c)
	err = database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		d, err := h.s.tenants.WithTx(tx).RemoveDropLocation(c.Request.Context(), t.ID, id)
		if err != nil {
			return err
		}
		return forms.Audit(c.Request.Context(), tx, actor, "tenant.drop_location_remove", t.ID,
			map[string]any{"drop_location_id": d.ID, "name": d.Name})
	})
	if err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/tenants/"+t.Slug+"?done=location_removed")
}

func (h *staffHandlers) issueToken(c *gin.Context) error {
	return h.tokenAction(c, "issued", func(t tenants.Tenant) error {
		_, err := h.flow.IssueToken(c.Request.Context(), actorOf(c), t.ID)
		return err
	})
}

// resendToken emails a new link to the waiting delivery. When there is
// none, because the token was revealed or its link expired, it returns to
// the tenant page with a notice that explains why.
func (h *staffHandlers) resendToken(c *gin.Context) error {
	err := h.tokenAction(c, "resent", func(t tenants.Tenant) error {
		_, err := h.flow.ResendToken(c.Request.Context(), actorOf(c), t.ID)
		return err
	})
	if errors.Is(err, tenants.ErrNothingToResend) {
		return redirect(c, "/staff/tenants/"+c.Param("slug")+"?done=nothing_to_resend#tokens")
	}
	return err
}

func (h *staffHandlers) rotateToken(c *gin.Context) error {
	return h.tokenAction(c, "rotated", func(t tenants.Tenant) error {
		_, err := h.flow.RotateToken(c.Request.Context(), actorOf(c), t.ID)
		return err
	})
}

func (h *staffHandlers) revokeToken(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return h.tokenAction(c, "revoked", func(t tenants.Tenant) error {
		return h.flow.RevokeToken(c.Request.Context(), actorOf(c), t.ID, id)
	})
}

// tokenAction runs a token action on the tenant in the URL and returns to
// the tenant page.
func (h *staffHandlers) tokenAction(c *gin.Context, done string, action func(tenants.Tenant) error) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	if err := action(t); err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/tenants/"+t.Slug+"?done="+done+"#tokens")
}
