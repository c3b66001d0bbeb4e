// Package mail sends gatehouse's email. Callers enqueue a Message in the
// outbox table inside their own transaction, so mail goes out exactly when
// the change that caused it commits; a background worker delivers it over
// SMTP with go-mail and retries with backoff.
package mail

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Message is one email. Bodies may carry links with secrets, so a message
// is never logged; only its kind and outbox ID are.
type Message struct {
	Kind    string // template name, e.g. "verify_request"; used in logs and the outbox page
	To      string
	Subject string
	Text    string
	HTML    string
}

// Enqueue stores m in the outbox through q, a pool or the caller's transaction.
func Enqueue(ctx context.Context, q sqlx.ExtContext, m Message) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, q, &id, `
		INSERT INTO outbox (kind, to_address, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5)
		RETURNING id`, m.Kind, m.To, m.Subject, m.Text, m.HTML)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s mail: %w", m.Kind, err)
	}
	return id, nil
}
