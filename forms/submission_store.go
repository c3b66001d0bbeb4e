package forms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// ActorContact names the IT contact in a request's history.
const ActorContact = "contact"

// Lifetimes of the links mailed to the contact. Each status mail carries a
// status link of its own, and the links of earlier mails keep working until
// they expire. A re-sent link replaces the older ones of its kind.
const (
	VerifyLinkLifetime = 48 * time.Hour
	StatusLinkLifetime = 30 * 24 * time.Hour
)

var (
	// ErrContactLinkInvalid means no request has the link: it was mistyped,
	// or the contact asked for new links since.
	ErrContactLinkInvalid = errors.New("link not valid")
	// ErrContactLinkExpired means the link's lifetime is over; the contact can ask
	// for a new one.
	ErrContactLinkExpired = errors.New("link expired")
)

// ContactLinks builds the absolute URLs mailed to the contact from link
// secrets, so forms needs no knowledge of the portal's routes.
type ContactLinks struct {
	VerifyURL func(secrets.LinkSecret) string
	StatusURL func(secrets.LinkSecret) string
}

// Create stores a validated submission as an unverified request and
// enqueues the mail with its verification and status links, in one
// transaction, so a request never exists without its mail. A proposed slug
// that is taken is a *SlugTakenError and stores nothing.
func (s *Store) Create(ctx context.Context, sub Submission, links ContactLinks, now time.Time) (Request, error) {
	var out Request
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		slug, err := chooseSlug(ctx, tx, sub, "")
		if err != nil {
			return err
		}
		sub.TenantSlug = slug

		verify := secrets.NewLinkSecret()
		out, err = insertRequest(ctx, tx, sub, verify, now)
		if err != nil {
			return err
		}
		status, err := addStatusLink(ctx, tx, out.ID, now)
		if err != nil {
			return err
		}
		if err := addEvent(ctx, tx, out.ID, ActorContact, nil, StateUnverified, ""); err != nil {
			return err
		}
		return enqueueVerifyMail(ctx, tx, out, links, verify, status)
	})
	if err != nil {
		return Request{}, s.slugRace(ctx, sub, "", err)
	}
	return out, nil
}

// slugRace turns a unique violation on the open-slug index, which another
// request won between the check and the insert, into a *SlugTakenError.
func (s *Store) slugRace(ctx context.Context, sub Submission, exceptRequestID string, err error) error {
	var taken *SlugTakenError
	if errors.As(err, &taken) || !errors.Is(err, database.ErrConflict) {
		return err
	}
	slug := sub.TenantSlug
	if slug == "" {
		slug = SlugFromName(sub.CompanyName)
	}
	suggestion, ferr := freeSlug(ctx, s.db, slug, exceptRequestID)
	if ferr != nil {
		return err
	}
	return &SlugTakenError{Slug: slug, Suggestion: suggestion}
}

func insertRequest(ctx context.Context, tx *sqlx.Tx, sub Submission, verify secrets.LinkSecret, now time.Time) (Request, error) {
	args := append([]any{NewReference(), sub.ContactEmail, verify.Hash(), now.Add(VerifyLinkLifetime)},
		submissionValues(sub)...)
	var out Request
	err := sqlx.GetContext(ctx, tx, &out, `
		INSERT INTO setup_requests (reference, state, contact_email, verify_hash, verify_expires_at,
		    company_name, email_domains, product, contact_name, contact_phone, metadata_xml,
		    idp_entity_id, sso_url, sso_binding, certificates, metadata_report, scim_requested, require_sso,
		    autoprovision, notes, tenant_slug, contact_outside_domains, idp_vendor)
		VALUES ($1, 'unverified', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
		    $19, $20, $21, $22)
		RETURNING `+RequestColumns, args...)
	if err != nil {
		return Request{}, fmt.Errorf("insert setup request: %w", database.Translate(err))
	}
	return out, nil
}

// submissionValues returns the columns company_name through idp_vendor, in
// the order of the INSERT and UPDATE statements that store a submission.
func submissionValues(sub Submission) []any {
	md := sub.Report.Metadata
	var entityID string
	var sso Endpoint
	var certs pq.ByteaArray
	if md != nil {
		entityID, sso = md.EntityID, md.PreferredSSO()
		for _, c := range md.SigningCerts {
			certs = append(certs, c.DER)
		}
	}
	if certs == nil {
		certs = pq.ByteaArray{}
	}
	vendor := sub.IdPVendor
	if vendor == "" {
		vendor = GuessIdPVendor(entityID)
	}
	return []any{sub.CompanyName, pq.StringArray(sub.EmailDomains), sub.Product, sub.ContactName, sub.ContactPhone,
		sub.MetadataXML, entityID, sso.Location, string(sso.Binding), certs, sub.metadataReport(),
		sub.SCIMRequested, sub.RequireSSO, sub.Autoprovision, sub.Notes, sub.TenantSlug,
		sub.ContactOutsideDomains, vendor}
}

func enqueueVerifyMail(ctx context.Context, tx *sqlx.Tx, r Request, links ContactLinks, verify, status secrets.LinkSecret) error {
	msg, err := mail.VerifyRequest(r.ContactEmail, r.ContactName, r.CompanyName, r.Reference,
		links.VerifyURL(verify), links.StatusURL(status))
	if err != nil {
		return fmt.Errorf("build verification mail: %w", err)
	}
	if _, err := mail.Enqueue(ctx, tx, msg); err != nil {
		return err
	}
	return nil
}

// enqueueStatusMail mails the contact a new status link with the request's
// state, when they asked for new links. The SCIM token of an approved
// request went out with the approval, so the mail refers to that one.
func enqueueStatusMail(ctx context.Context, tx *sqlx.Tx, r Request, note string, status secrets.LinkSecret, links ContactLinks) error {
	// mail.RequestStatus accepts only the states a contact is notified of,
	// and to the contact a request in review is still submitted.
	state := r.State
	if state == StateInReview {
		state = StateSubmitted
	}
	scim := mail.SCIMNotRequested
	if r.SCIMRequested {
		scim = mail.SCIMTokenSent
	}
	msg, err := statusMessage(r, state, note, links.StatusURL(status), scim)
	if err != nil {
		return err
	}
	if _, err := mail.Enqueue(ctx, tx, msg); err != nil {
		return err
	}
	return nil
}

// statusMessage builds the mail that notifies the contact of r that it is
// in state, with the approval's SCIM news when state is approved.
func statusMessage(r Request, state State, note, statusURL string, scim mail.ApprovalSCIM) (mail.Message, error) {
	var msg mail.Message
	var err error
	if state == StateApproved {
		msg, err = mail.RequestApproved(r.ContactEmail, r.ContactName, r.CompanyName, r.Reference, note, statusURL, scim)
	} else {
		msg, err = mail.RequestStatus(r.ContactEmail, r.ContactName, r.CompanyName, r.Reference, string(state), note, statusURL)
	}
	if err != nil {
		return mail.Message{}, fmt.Errorf("build status mail: %w", err)
	}
	return msg, nil
}

// addStatusLink gives the request one more status link, valid for
// StatusLinkLifetime from now, and returns its secret for a mail. The
// request's other status links keep working, so every mail the contact
// was sent leads to the status page until its own link expires. Only the
// hash of a link is stored, so each mail about a request needs a new link.
func addStatusLink(ctx context.Context, tx *sqlx.Tx, requestID string, now time.Time) (secrets.LinkSecret, error) {
	secret := secrets.NewLinkSecret()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO status_links (hash, request_id, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
		secret.Hash(), requestID, now.Add(StatusLinkLifetime), now)
	if err != nil {
		return "", fmt.Errorf("add status link: %w", database.Translate(err))
	}
	return secret, nil
}

// replaceStatusLinks ends every status link of the request and returns a
// new one, for a contact who asked for new links because an old one may
// have leaked.
func replaceStatusLinks(ctx context.Context, tx *sqlx.Tx, requestID string, now time.Time) (secrets.LinkSecret, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM status_links WHERE request_id = $1`, requestID); err != nil {
		return "", fmt.Errorf("delete status links: %w", database.Translate(err))
	}
	return addStatusLink(ctx, tx, requestID, now)
}
