package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// registerContactToken adds the contact's token actions, reached from
// their private status page: rotate (a new token by email, the old one
// working for the grace period) and revoke every token at once.
func (s *Server) registerContactToken(r *gin.Engine, flow *forms.Workflow) {
	h := &contactTokenHandlers{s: s, flow: flow, store: forms.NewStore(s.db), limits: newRotationLimits()}
	r.POST("/setup/status/:secret/token/rotate", privateLink, s.handle(h.rotate))
	r.POST("/setup/status/:secret/token/revoke", privateLink, s.handle(h.revoke))
}

type contactTokenHandlers struct {
	s      *Server
	flow   *forms.Workflow
	store  *forms.Store
	limits *rotationLimits
}

// tokenActions is the data of the _token_actions.html partial
// (template "token_actions") on the contact's status page.
type tokenActions struct {
	StatusPath string // the status page's path, holding the link secret
	Tokens     []tokenView
	Grace      string // the rotation grace period, as people read it
}

// tokenActions returns the partial's data for an approved request whose
// tenant has SCIM on, or nil when the status page has no token actions.
// The setup portal's status page includes the partial with it.
func (s *Server) tokenActions(ctx context.Context, r forms.Request, secret secrets.LinkSecret) (*tokenActions, error) {
	if r.State != forms.StateApproved || r.TenantID == nil {
		return nil, nil
	}
	t, err := s.tenants.ByID(ctx, *r.TenantID)
	if err != nil || !t.SCIM {
		return nil, err
	}
	records, err := s.tenants.Tokens(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	out := &tokenActions{StatusPath: "/setup/status/" + secret.Reveal(), Grace: graceText(s.workflow().RotationGrace())}
	now := s.now()
	for _, rec := range records {
		if status := rec.Status(now); status == tenants.TokenActive || status == tenants.TokenInGrace {
			out.Tokens = append(out.Tokens, tokenView{TokenRecord: rec, Status: status})
		}
	}
	return out, nil
}

// contactTenant loads the approved request behind the status link in the
// URL and its tenant, and names the contact as the actor.
func (h *contactTokenHandlers) contactTenant(c *gin.Context) (forms.Request, string, forms.Actor, error) {
	secret, ok := linkSecret(c)
	if !ok {
		return forms.Request{}, "", forms.Actor{}, errLinkInvalid
	}
	r, err := h.store.StatusLink(c.Request.Context(), secret, h.s.now())
	if errors.Is(err, forms.ErrContactLinkInvalid) || errors.Is(err, forms.ErrContactLinkExpired) {
		return forms.Request{}, "", forms.Actor{}, errLinkInvalid
	}
	if err != nil {
		return forms.Request{}, "", forms.Actor{}, err
	}
	if r.State != forms.StateApproved || r.TenantID == nil {
		return forms.Request{}, "", forms.Actor{}, userError(http.StatusConflict,
			"Your request is not approved yet, so there is no SCIM token to change.", nil)
	}
	actor := actorOf(c)
	actor.Name = "contact:" + r.ContactEmail
	return r, *r.TenantID, actor, nil
}

// contactResult is the page shown after a contact's token action.
type contactResult struct {
	Action     string // "rotated" or "revoked"
	Count      int
	StatusPath string
	Grace      string
}

// rotate issues a new token and mails its reveal link, within the
// rotation limits per client address and per tenant.
func (h *contactTokenHandlers) rotate(c *gin.Context) error {
	if ok, wait := h.limits.byIP.allow(clientKey(c), h.s.now()); !ok {
		return tooManyRequests(c, wait)
	}
	_, tenantID, actor, err := h.contactTenant(c)
	if err != nil {
		return err
	}
	if ok, wait := h.limits.byTenant.allow(tenantID, h.s.now()); !ok {
		return tooManyRequests(c, wait)
	}
	if _, err := h.flow.RotateToken(c.Request.Context(), actor, tenantID); err != nil {
		return staffError(err)
	}
	return h.s.render(c, http.StatusOK, "reveal_contact.html", "Token rotated", contactResult{
		Action: "rotated", StatusPath: "/setup/status/" + c.Param("secret"), Grace: graceText(h.flow.RotationGrace()),
	})
}

// revoke ends every working token of the tenant. It has no rate limit,
// because it sends no mail, audits only the tokens it ends, and must work
// in an emergency even after the rotations ran out.
func (h *contactTokenHandlers) revoke(c *gin.Context) error {
	_, tenantID, actor, err := h.contactTenant(c)
	if err != nil {
		return err
	}
	if c.PostForm("confirm") != "yes" {
		return userError(http.StatusUnprocessableEntity,
			"Tick the box to confirm that you want to revoke every token. Provisioning stops until you configure a new one.", nil)
	}
	n, err := h.flow.RevokeAllTokens(c.Request.Context(), actor, tenantID)
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, "reveal_contact.html", "Tokens revoked", contactResult{
		Action: "revoked", Count: n, StatusPath: "/setup/status/" + c.Param("secret"),
	})
}

// graceText returns a grace period as people read it, such as "24 hours".
func graceText(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d.Hours())) + " hours"
	}
	return d.String()
}
