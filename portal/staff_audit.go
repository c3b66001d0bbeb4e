package portal

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

func (h *staffHandlers) registerAudit(g *gin.RouterGroup) {
	g.GET("/audit", h.s.handle(h.audit))
	g.GET("/audit.csv", h.s.handle(h.auditCSV))
}

// auditView is the audit page's data.
type auditView struct {
	Events  []tenants.AuditEvent
	Tenant  string // slug filter as typed
	Action  string
	Actor   string
	Actions []auditAction     // the action filter's suggestions
	Slugs   map[string]string // tenant ID to slug
	NextURL string
	CSVURL  string
	Problem string
}

const auditPageSize = 100

// SlugOf returns the slug of the tenant an event names, or "" when it
// names none.
func (v auditView) SlugOf(tenantID *string) string {
	if tenantID == nil {
		return ""
	}
	return v.Slugs[*tenantID]
}

// auditFilter reads the audit page's filters. An unknown tenant slug is
// reported on the page instead of silently matching everything.
func (h *staffHandlers) auditFilter(c *gin.Context) (tenants.AuditFilter, auditView, error) {
	view := auditView{
		Tenant: strings.TrimSpace(c.Query("tenant")), Action: strings.TrimSpace(c.Query("action")),
		Actor: strings.TrimSpace(c.Query("actor")), Actions: auditActions(),
	}
	f := tenants.AuditFilter{Action: view.Action, Actor: view.Actor, Limit: auditPageSize}
	f.BeforeID, _ = strconv.ParseInt(c.Query("before"), 10, 64)
	if view.Tenant != "" {
		t, err := h.s.tenants.BySlug(c.Request.Context(), view.Tenant)
		if err != nil {
			view.Problem = "No tenant has the slug " + view.Tenant + "."
			return f, view, nil
		}
		f.TenantID = t.ID
	}
	return f, view, nil
}

func (h *staffHandlers) audit(c *gin.Context) error {
	f, view, err := h.auditFilter(c)
	if err != nil || view.Problem != "" {
		if err == nil {
			err = h.s.render(c, http.StatusNotFound, "staff_audit.html", "Audit trail", view)
		}
		return err
	}
	if view.Events, err = h.s.tenants.AuditLog(c.Request.Context(), f); err != nil {
		return err
	}
	if view.Slugs, err = h.tenantSlugs(c); err != nil {
		return err
	}
	q := url.Values{"tenant": {view.Tenant}, "action": {view.Action}, "actor": {view.Actor}}
	view.CSVURL = "/staff/audit.csv?" + q.Encode()
	if len(view.Events) == auditPageSize {
		q.Set("before", strconv.FormatInt(view.Events[len(view.Events)-1].ID, 10))
		view.NextURL = "/staff/audit?" + q.Encode()
	}
	return h.s.render(c, http.StatusOK, "staff_audit.html", "Audit trail", view)
}

func (h *staffHandlers) tenantSlugs(c *gin.Context) (map[string]string, error) {
	list, err := h.s.tenants.List(c.Request.Context())
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, t := range list {
		out[t.ID] = t.Slug
	}
	return out, nil
}

func (h *staffHandlers) auditCSV(c *gin.Context) error {
	f, view, err := h.auditFilter(c)
	if err != nil {
		return err
	}
	if view.Problem != "" {
		return userError(http.StatusNotFound, view.Problem, nil)
	}
	name := "gatehouse-audit"
	if view.Tenant != "" {
		name += "-" + view.Tenant
	}
	return h.writeAuditCSV(c, f, name)
}

// tenantAuditCSV exports one tenant's whole audit trail.
func (h *staffHandlers) tenantAuditCSV(c *gin.Context) error {
	t, err := h.tenantBySlug(c)
	if err != nil {
		return err
	}
	return h.writeAuditCSV(c, tenants.AuditFilter{TenantID: t.ID}, "gatehouse-audit-"+t.Slug)
}

// writeAuditCSV streams the events f matches, oldest first, as CSV. An
// error after the first row can only end the download early, so it is
// logged.
func (h *staffHandlers) writeAuditCSV(c *gin.Context, f tenants.AuditFilter, name string) error {
	f.BeforeID = 0
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, h.s.now().UTC().Format("20060102")))
	w := csv.NewWriter(c.Writer)
	w.Write([]string{"id", "at", "actor", "action", "tenant_id", "request_id", "client_ip", "detail"})
	err := h.s.tenants.EachAuditEvent(c.Request.Context(), f, func(e tenants.AuditEvent) error {
		detail, _ := json.Marshal(e.Detail)
		return w.Write([]string{
			strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), csvCell(e.Actor), csvCell(e.Action),
			deref(e.TenantID), deref(e.RequestID), csvCell(e.ClientIP), csvCell(string(detail)),
		})
	})
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		h.s.log.ErrorContext(c.Request.Context(), "audit_export_failed", logAttrs(c, "error", err)...)
	}
	return nil
}

// csvCell keeps spreadsheet programs from running a cell as a formula:
// a cell starting with =, +, -, @, tab or carriage return gets a leading
// apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
