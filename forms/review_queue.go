package forms

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Queue views: QueueOpen is the default, the requests waiting for staff.
const (
	QueueOpen = "open" // submitted and in review
	QueueAll  = "all"
)

// QueuePageSize is how many requests a queue page shows.
const QueuePageSize = 50

// QueueFilter selects and orders the staff queue.
type QueueFilter struct {
	// State is QueueOpen (the default), QueueAll or one State.
	State   string
	Product tenants.Product // empty for both products
	// Search matches a company name or contact email by substring, a
	// reference code by prefix, or an email domain exactly.
	Search string
	// Newest lists the most recently submitted first; the default is the
	// longest waiting first.
	Newest bool
	Page   int // from 1
}

// QueueItem is one row of the staff queue.
type QueueItem struct {
	ID           string          `db:"id"`
	Reference    string          `db:"reference"`
	State        State           `db:"state"`
	CompanyName  string          `db:"company_name"`
	EmailDomains pq.StringArray  `db:"email_domains"`
	Product      tenants.Product `db:"product"`
	ContactEmail string          `db:"contact_email"`
	Version      int             `db:"version"`
	CreatedAt    time.Time       `db:"created_at"`
	SubmittedAt  *time.Time      `db:"submitted_at"`
	ClaimedBy    *string         `db:"claimed_by"`
	ClaimedName  *string         `db:"claimed_name"`
}

// QueuePage is one page of the queue.
type QueuePage struct {
	Items   []QueueItem
	Total   int // requests matching the filter, on every page
	Page    int
	HasNext bool
}

// Queue returns one page of setup requests matching f. Requests never
// submitted (unverified) sort by creation time.
func (s *Store) Queue(ctx context.Context, f QueueFilter) (QueuePage, error) {
	where, args := f.where()
	if f.Page < 1 {
		f.Page = 1
	}
	order := "coalesce(r.submitted_at, r.created_at), r.id"
	if f.Newest {
		order = "coalesce(r.submitted_at, r.created_at) DESC, r.id DESC"
	}

	page := QueuePage{Page: f.Page, Items: []QueueItem{}}
	err := sqlx.GetContext(ctx, s.db, &page.Total, `SELECT count(*) FROM setup_requests r WHERE `+where, args...)
	if err != nil {
		return QueuePage{}, fmt.Errorf("count queue: %w", database.Translate(err))
	}
	n := len(args)
	args = append(args, QueuePageSize+1, (f.Page-1)*QueuePageSize)
	err = sqlx.SelectContext(ctx, s.db, &page.Items, fmt.Sprintf(`
		SELECT r.id, r.reference, r.state, r.company_name, r.email_domains, r.product, r.contact_email, r.version,
		       r.created_at, r.submitted_at, r.claimed_by, s.name AS claimed_name
		FROM setup_requests r LEFT JOIN staff s ON s.id = r.claimed_by
		WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d`, where, order, n+1, n+2), args...)
	if err != nil {
		return QueuePage{}, fmt.Errorf("list queue: %w", database.Translate(err))
	}
	if len(page.Items) > QueuePageSize {
		page.Items, page.HasNext = page.Items[:QueuePageSize], true
	}
	return page, nil
}

// where returns the filter's WHERE clause over setup_requests r and its
// arguments.
func (f QueueFilter) where() (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}

	switch f.State {
	case "", QueueOpen:
		conds = append(conds, "r.state IN ('submitted', 'in_review')")
	case QueueAll:
	default:
		conds = append(conds, "r.state = "+arg(f.State))
	}
	if f.Product != "" {
		conds = append(conds, "r.product = "+arg(string(f.Product)))
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		like := "%" + escapeLike(q) + "%"
		conds = append(conds, fmt.Sprintf(`(r.company_name ILIKE %[1]s OR r.contact_email ILIKE %[1]s
			OR r.reference LIKE %[2]s OR r.email_domains @> ARRAY[%[3]s]::text[])`,
			arg(like), arg(escapeLike(strings.ToUpper(q))+"%"), arg(strings.ToLower(q))))
	}
	if len(conds) == 0 {
		return "true", args
	}
	return strings.Join(conds, " AND "), args
}

// escapeLike escapes the LIKE wildcards in s, so a search for "50%" finds
// that text.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// BusinessDaysBetween counts the whole weekdays (Monday to Friday) from
// start to end: a request submitted on Friday at noon has waited one
// business day on Monday at noon. Public holidays count as business days.
func BusinessDaysBetween(start, end time.Time) int {
	if !end.After(start) {
		return 0
	}
	days := 0
	for t := start.AddDate(0, 0, 1); !t.After(end); t = t.AddDate(0, 0, 1) {
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			days++
		}
	}
	return days
}

// WaitingSince returns when the request started waiting for staff: its
// submission, or its creation when it was never submitted.
func (q QueueItem) WaitingSince() time.Time {
	if q.SubmittedAt != nil {
		return *q.SubmittedAt
	}
	return q.CreatedAt
}
