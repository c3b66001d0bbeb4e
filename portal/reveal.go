package portal

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Token reveal states, one per variant of reveal.html.
const (
	revealConfirm  = "confirm"
	revealShown    = "shown"
	revealAlready  = "already"
	revealExpired  = "expired"
	revealReplaced = "replaced"
	revealInvalid  = "invalid"
)

// revealView is the token reveal page's data. Token is set only on the
// one response that shows it.
type revealView struct {
	State   string
	Token   string
	Hint    string
	SCIMURL string
	Tenant  string
}

// registerReveal adds the public page that reveals a token delivery once.
// GET only shows a confirm button, because mail scanners follow links, and
// the confirming POST reveals.
func (s *Server) registerReveal(r *gin.Engine, flow *forms.Workflow) {
	r.GET("/token/:secret", privateLink, s.handle(s.showReveal))
	r.POST("/token/:secret", privateLink, s.handle(func(c *gin.Context) error { return s.reveal(c, flow) }))
}

func (s *Server) showReveal(c *gin.Context) error {
	link, ok := linkSecret(c)
	if !ok {
		return s.renderReveal(c, revealView{State: revealInvalid})
	}
	d, err := s.tenants.DeliveryByLink(c.Request.Context(), link)
	if err != nil {
		return s.revealProblem(c, err)
	}
	now := s.now()
	switch {
	case d.RevealedAt != nil:
		return s.renderReveal(c, revealView{State: revealAlready})
	case d.VoidedAt != nil:
		return s.renderReveal(c, revealView{State: revealReplaced})
	case !now.Before(d.ExpiresAt):
		return s.renderReveal(c, revealView{State: revealExpired})
	}
	t, err := s.tenants.ByID(c.Request.Context(), d.TenantID)
	if err != nil {
		return err
	}
	return s.renderReveal(c, revealView{State: revealConfirm, Tenant: t.Name})
}

// reveal opens the delivery once and shows the token. The reveal is
// audited as by the contact, named only by the client address, since the
// link is their only credential.
func (s *Server) reveal(c *gin.Context, flow *forms.Workflow) error {
	link, ok := linkSecret(c)
	if !ok {
		return s.renderReveal(c, revealView{State: revealInvalid})
	}
	actor := actorOf(c)
	actor.Name = "contact"
	d, token, err := flow.RevealToken(c.Request.Context(), actor, link)
	if err != nil {
		return s.revealProblem(c, err)
	}
	t, err := s.tenants.ByID(c.Request.Context(), d.TenantID)
	if err != nil {
		return err
	}
	s.log.InfoContext(c.Request.Context(), "token_revealed", logAttrs(c, "tenant", t.Slug, "delivery_id", d.ID)...)
	return s.renderReveal(c, revealView{
		State: revealShown, Token: token.Reveal(), Hint: token.Hint(), SCIMURL: s.link("/scim/v2"), Tenant: t.Name,
	})
}

// revealProblem renders the page for a delivery that cannot be revealed.
func (s *Server) revealProblem(c *gin.Context, err error) error {
	switch {
	case errors.Is(err, tenants.ErrAlreadyRevealed):
		return s.renderReveal(c, revealView{State: revealAlready})
	case errors.Is(err, tenants.ErrDeliveryVoided):
		return s.renderReveal(c, revealView{State: revealReplaced})
	case errors.Is(err, tenants.ErrDeliveryExpired):
		return s.renderReveal(c, revealView{State: revealExpired})
	case errors.Is(err, database.ErrNotFound):
		return s.renderReveal(c, revealView{State: revealInvalid})
	}
	return err
}

func (s *Server) renderReveal(c *gin.Context, view revealView) error {
	status := map[string]int{
		revealConfirm: http.StatusOK, revealShown: http.StatusOK, revealAlready: http.StatusGone,
		revealExpired: http.StatusGone, revealReplaced: http.StatusGone, revealInvalid: http.StatusNotFound,
	}[view.State]
	noStore(c)
	return s.render(c, status, "reveal.html", "Your SCIM token", view)
}
