package portal

import (
	"errors"
	"net/http"
	"net/mail"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// verifyView is the data of setup_verify.html.
type verifyView struct {
	Request forms.Request
	Action  string // where the confirm button posts
}

// showVerify shows a button that confirms the address. Following the link
// alone changes nothing, so mail scanners that open links do not confirm
// requests.
func (h *setupHandlers) showVerify(c *gin.Context) error {
	now := h.s.now()
	if ok, wait := h.limits.verifyByIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	secret, ok := linkSecret(c)
	if !ok {
		return h.renderLinkError(c, forms.ErrContactLinkInvalid, "verification")
	}
	r, err := h.store.VerifyLink(c.Request.Context(), secret, now)
	if err != nil {
		return h.renderLinkError(c, err, "verification")
	}
	view := verifyView{Request: r, Action: c.Request.URL.Path}
	return h.s.render(c, http.StatusOK, "setup_verify.html", "Confirm your email address", view)
}

// verify confirms the address and sends the request to the staff queue,
// then shows the confirmation on the status page, through the status link
// that Verify added. A request that was already confirmed gets no new
// status link, and its GET page shows that it is confirmed.
func (h *setupHandlers) verify(c *gin.Context) error {
	now := h.s.now()
	if ok, wait := h.limits.verifyByIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	secret, ok := linkSecret(c)
	if !ok {
		return h.renderLinkError(c, forms.ErrContactLinkInvalid, "verification")
	}
	ctx := c.Request.Context()
	r, err := h.store.VerifyLink(ctx, secret, now)
	if err != nil {
		return h.renderLinkError(c, err, "verification")
	}
	if ok, wait := h.limits.verifyByEmail.allow(emailKey(r.ContactEmail), now); !ok {
		return tooManyRequests(c, wait)
	}

	r, status, err := h.store.Verify(ctx, secret, now)
	switch {
	case errors.Is(err, forms.ErrInvalidTransition):
		// Withdrawn before it was confirmed: the GET page says so.
	case forms.IsLinkError(err):
		return h.renderLinkError(c, err, "verification")
	case err != nil:
		return err
	default:
		h.s.log.InfoContext(ctx, "setup_request_verified", "setup_request_id", r.ID, "reference", r.Reference)
	}
	if status != "" {
		return redirect(c, statusPath(status)+"?done=verified")
	}
	return redirect(c, c.Request.URL.Path)
}

// resendView is the data of setup_resend.html.
type resendView struct {
	Email string
	Error string
	Sent  bool
}

func (h *setupHandlers) showResend(c *gin.Context) error {
	return h.s.render(c, http.StatusOK, "setup_resend.html", "Get new links", resendView{})
}

// resend mails new links for the address's requests. The page says the
// same whether or not the address has requests.
func (h *setupHandlers) resend(c *gin.Context) error {
	now := h.s.now()
	if ok, wait := h.limits.resendByIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	if err := parseSmallForm(c); err != nil {
		return err
	}
	view := resendView{Email: c.Request.PostFormValue("email")}
	addr, err := mail.ParseAddress(view.Email)
	if err != nil || addr.Address != view.Email || len(view.Email) > 254 {
		view.Error = "Enter the email address in the form name@example.com."
		return h.s.render(c, http.StatusUnprocessableEntity, "setup_resend.html", "Get new links", view)
	}
	if ok, wait := h.limits.resendByEmail.allow(emailKey(view.Email), now); !ok {
		return tooManyRequests(c, wait)
	}

	n, err := h.store.ResendLinks(c.Request.Context(), view.Email, h.contactLinks(), now)
	if err != nil {
		return err
	}
	h.s.log.InfoContext(c.Request.Context(), "setup_links_resent", "mails", n)
	view.Sent = true
	return h.s.render(c, http.StatusOK, "setup_resend.html", "Get new links", view)
}
