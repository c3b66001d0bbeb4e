package portal

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/mail"
)

func (h *staffHandlers) registerOutbox(g *gin.RouterGroup) {
	g.GET("/outbox", h.s.handle(h.outbox))
	g.GET("/outbox/:id", h.s.handle(h.outboxMessage))
	g.POST("/outbox/:id/retry", h.s.handle(h.retryMail))
}

// outboxView is the outbox page's data.
type outboxView struct {
	Entries []outboxEntry
	State   mail.State
	Tabs    []outboxTab
	Stats   mail.OutboxStats
	Page    int
	PrevURL string
	NextURL string
	Notice  string
}

// outboxTab is a link that lists the mail in one state.
type outboxTab struct {
	State mail.State
	Label string
}

// outboxStateLabels are the outbox states as staff read them, in the
// order of the outbox page's tabs.
var outboxStateLabels = []outboxTab{{mail.Pending, "Pending"}, {mail.Sent, "Sent"}, {mail.Dead, "Failed"}}

// outboxEntry is a message as the outbox pages show it.
type outboxEntry struct {
	mail.Entry
	StateLabel string
	// CanRetry is set for mail that the delivery worker failed to send:
	// dead mail, and pending mail with a failed attempt. Pending mail that
	// was never tried goes out without help. Without SMTP (development) no
	// worker sends mail, so CanRetry is never set there.
	CanRetry bool
}

func (h *staffHandlers) newOutboxEntry(e mail.Entry) outboxEntry {
	out := outboxEntry{Entry: e, StateLabel: string(e.State)}
	for _, tab := range outboxStateLabels {
		if tab.State == e.State {
			out.StateLabel = tab.Label
		}
	}
	out.CanRetry = !h.s.cfg.DevMail && (e.State == mail.Dead || e.State == mail.Pending && e.Attempts > 0)
	return out
}

const outboxPageSize = 50

func (h *staffHandlers) outbox(c *gin.Context) error {
	view := outboxView{Tabs: outboxStateLabels, Page: 1}
	for _, tab := range view.Tabs {
		if c.Query("state") == string(tab.State) {
			view.State = tab.State
		}
	}
	if p, err := strconv.Atoi(c.Query("page")); err == nil && p > 1 && p <= 10000 {
		view.Page = p
	}
	ctx := c.Request.Context()
	entries, err := mail.List(ctx, h.s.db, mail.ListFilter{State: view.State, Limit: outboxPageSize + 1, Offset: (view.Page - 1) * outboxPageSize})
	if err != nil {
		return err
	}
	if len(entries) > outboxPageSize {
		entries, view.NextURL = entries[:outboxPageSize], outboxURL(view.State, view.Page+1)
	}
	if view.Page > 1 {
		view.PrevURL = outboxURL(view.State, view.Page-1)
	}
	for _, e := range entries {
		view.Entries = append(view.Entries, h.newOutboxEntry(e))
	}
	if view.Stats, err = mail.Stats(ctx, h.s.db); err != nil {
		return err
	}
	if c.Query("done") == "retried" {
		view.Notice = "The message is due again; the delivery worker sends it shortly."
	}
	return h.s.render(c, http.StatusOK, "staff_outbox.html", "Outbox", view)
}

func outboxURL(state mail.State, page int) string {
	return "/staff/outbox?state=" + string(state) + "&page=" + strconv.Itoa(page)
}

func outboxID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errNotFound
	}
	return id, nil
}

// outboxMessageView is the outbox message page's data.
type outboxMessageView struct {
	outboxEntry
	// BodyHidden is set when mail goes out over SMTP: the body is then
	// not shown, because its links (a token reveal, a staff password
	// reset, a contact's status page) would let any staff member act as
	// the recipient.
	BodyHidden bool
}

// outboxMessage shows one message. Without SMTP (development) it shows the
// bodies, since this page is how staff read mail, links included, so the
// page is never cached.
func (h *staffHandlers) outboxMessage(c *gin.Context) error {
	id, err := outboxID(c)
	if err != nil {
		return err
	}
	entry, err := mail.Get(c.Request.Context(), h.s.db, id)
	if err != nil {
		return err
	}
	view := outboxMessageView{outboxEntry: h.newOutboxEntry(entry), BodyHidden: !h.s.cfg.DevMail}
	if view.BodyHidden {
		view.Text, view.HTML = "", ""
	}
	c.Header("Referrer-Policy", "no-referrer")
	return h.s.render(c, http.StatusOK, "staff_outbox_message.html", entry.Subject, view)
}

func (h *staffHandlers) retryMail(c *gin.Context) error {
	id, err := outboxID(c)
	if err != nil {
		return err
	}
	if err := h.checkRetry(c, id); err != nil {
		return err
	}
	actor := actorOf(c)
	err = database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		if err := mail.Retry(c.Request.Context(), tx, id); err != nil {
			return err
		}
		return forms.Audit(c.Request.Context(), tx, actor, "mail.retry", "", map[string]any{"outbox_id": id})
	})
	switch {
	case errors.Is(err, mail.ErrAlreadySent):
		return userError(http.StatusConflict, "This message was already sent, so there is nothing to retry.", err)
	case errors.Is(err, mail.ErrSending):
		return userError(http.StatusConflict, "The delivery worker is sending this message right now. Reload the page in a minute.", err)
	case err != nil:
		return err
	}
	return redirect(c, "/staff/outbox?done=retried")
}

// checkRetry rejects a retry that the outbox pages do not offer: any retry
// without SMTP, where mail stays in the outbox, and one of pending mail
// that the delivery worker has not tried yet.
func (h *staffHandlers) checkRetry(c *gin.Context, id int64) error {
	if h.s.cfg.DevMail {
		return userError(http.StatusConflict, "No SMTP server is configured (SMTP_URL), so mail stays here and cannot be retried.", nil)
	}
	entry, err := mail.Get(c.Request.Context(), h.s.db, id)
	if err != nil {
		return err
	}
	if entry.State == mail.Pending && entry.Attempts == 0 {
		return userError(http.StatusConflict, "This message has not been tried yet. The delivery worker sends it shortly.", nil)
	}
	return nil
}
