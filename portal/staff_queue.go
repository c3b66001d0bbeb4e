package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func (h *staffHandlers) registerQueue(g *gin.RouterGroup) {
	g.GET("", h.s.handle(h.queue))
	g.POST("/requests/:id/claim", h.s.handle(h.claim))
	g.GET("/requests/:id", h.s.handle(h.request))
	g.POST("/requests/:id/decide", h.s.handle(h.decide))
	g.POST("/requests/:id/meeting", h.s.handle(h.recordMeeting))
}

// queueView is the queue page's data.
type queueView struct {
	Filter   forms.QueueFilter
	Page     forms.QueuePage
	Rows     []queueRow
	States   []stateOption
	PrevURL  string
	NextURL  string
	Notice   string
	Products []tenants.Product
}

type queueRow struct {
	forms.QueueItem
	Waiting  string // "3 business days"
	AgeClass string // "", "warn" (over 1 business day) or "bad" (over 3)
	Mine     bool
}

type stateOption struct {
	Value, Label string
}

var queueStates = []stateOption{
	{forms.QueueOpen, "Waiting for staff"},
	{string(forms.StateSubmitted), forms.StateSubmitted.Label()},
	{string(forms.StateInReview), forms.StateInReview.Label()},
	{string(forms.StateChangesRequested), forms.StateChangesRequested.Label()},
	{string(forms.StateUnverified), forms.StateUnverified.Label()},
	{string(forms.StateApproved), forms.StateApproved.Label()},
	{string(forms.StateRejected), forms.StateRejected.Label()},
	{string(forms.StateWithdrawn), forms.StateWithdrawn.Label()},
	{forms.QueueAll, "All"},
}

func (h *staffHandlers) queue(c *gin.Context) error {
	f := queueFilter(c)
	page, err := h.requests.Queue(c.Request.Context(), f)
	if err != nil {
		return err
	}
	view := queueView{Filter: f, Page: page, States: queueStates, Products: []tenants.Product{tenants.MealProgram, tenants.Marketplace}}
	now, me := h.s.now(), currentStaff(c).ID
	for _, item := range page.Items {
		view.Rows = append(view.Rows, newQueueRow(item, now, me))
	}
	if f.Page > 1 {
		view.PrevURL = queueURL(f, f.Page-1)
	}
	if page.HasNext {
		view.NextURL = queueURL(f, f.Page+1)
	}
	if c.Query("done") == "claimed" {
		view.Notice = "You claimed the request."
	}
	return h.s.render(c, http.StatusOK, "staff_queue.html", "Queue", view)
}

// queueFilter reads the filter from the query string, ignoring values
// that are not offered, so a hand-edited URL cannot inject anything.
func queueFilter(c *gin.Context) forms.QueueFilter {
	f := forms.QueueFilter{State: forms.QueueOpen, Search: c.Query("q"), Newest: c.Query("sort") == "newest"}
	for _, s := range queueStates {
		if c.Query("state") == s.Value {
			f.State = s.Value
		}
	}
	if p := tenants.Product(c.Query("product")); p.Valid() {
		f.Product = p
	}
	if len(f.Search) > 200 {
		f.Search = f.Search[:200]
	}
	f.Page, _ = strconv.Atoi(c.Query("page"))
	if f.Page < 1 || f.Page > 10000 {
		f.Page = 1
	}
	return f
}

func queueURL(f forms.QueueFilter, page int) string {
	q := url.Values{}
	q.Set("state", f.State)
	if f.Product != "" {
		q.Set("product", string(f.Product))
	}
	if f.Search != "" {
		q.Set("q", f.Search)
	}
	if f.Newest {
		q.Set("sort", "newest")
	}
	q.Set("page", strconv.Itoa(page))
	return "/staff?" + q.Encode()
}

// newQueueRow marks requests that have waited for staff over one and over
// three business days. Only requests waiting for staff get a mark.
func newQueueRow(item forms.QueueItem, now time.Time, me string) queueRow {
	row := queueRow{QueueItem: item, Mine: item.ClaimedBy != nil && *item.ClaimedBy == me}
	days := forms.BusinessDaysBetween(item.WaitingSince(), now)
	row.Waiting = waitingText(item.WaitingSince(), now, days)
	if item.State == forms.StateSubmitted || item.State == forms.StateInReview {
		switch {
		case days > 3:
			row.AgeClass = "bad"
		case days > 1:
			row.AgeClass = "warn"
		}
	}
	return row
}

func waitingText(since, now time.Time, businessDays int) string {
	switch d := now.Sub(since); {
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	case businessDays == 1:
		return "1 business day"
	}
	return strconv.Itoa(businessDays) + " business days"
}

func (h *staffHandlers) claim(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	version, err := versionField(c)
	if err != nil {
		return err
	}
	if _, err := h.flow.Claim(c.Request.Context(), actorOf(c), id, version); err != nil {
		return staffError(err)
	}
	if c.PostForm("from") == "request" {
		return redirect(c, "/staff/requests/"+id+"?done=claimed")
	}
	return redirect(c, "/staff?done=claimed")
}
