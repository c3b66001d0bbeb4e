package forms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// maxResendRequests bounds how many of one address's requests a re-send
// covers, newest first, so one form post sends at most this many mails.
const maxResendRequests = 5

// verifyLinkState holds a request's verification link column, which
// Request leaves out.
type verifyLinkState struct {
	VerifyExpiresAt *time.Time `db:"verify_expires_at"`
}

type requestWithVerifyLink struct {
	Request
	verifyLinkState
}

// getByVerifyLink reads the request with this verification link, locked
// for update when q is a transaction that changes it.
func getByVerifyLink(ctx context.Context, q sqlx.QueryerContext, secret secrets.LinkSecret, forUpdate bool) (requestWithVerifyLink, error) {
	query := `SELECT ` + RequestColumns + `, verify_expires_at FROM setup_requests WHERE verify_hash = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var r requestWithVerifyLink
	err := sqlx.GetContext(ctx, q, &r, query, secret.Hash())
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return requestWithVerifyLink{}, ErrContactLinkInvalid
		}
		return requestWithVerifyLink{}, fmt.Errorf("get setup request: %w", err)
	}
	return r, nil
}

// StatusLink returns the request that this status link belongs to, in any
// state: a withdrawn or decided request still has its status page. It
// returns ErrContactLinkInvalid for an unknown link, or one that the
// contact replaced by asking for new links, and ErrContactLinkExpired for
// one past StatusLinkLifetime.
func (s *Store) StatusLink(ctx context.Context, secret secrets.LinkSecret, now time.Time) (Request, error) {
	var r struct {
		Request
		ExpiresAt time.Time `db:"link_expires_at"`
	}
	err := sqlx.GetContext(ctx, s.db, &r, `
		SELECT `+RequestColumns+`, link_expires_at
		FROM setup_requests JOIN (
		    SELECT request_id, expires_at AS link_expires_at FROM status_links WHERE hash = $1
		) link ON link.request_id = setup_requests.id`, secret.Hash())
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return Request{}, ErrContactLinkInvalid
		}
		return Request{}, fmt.Errorf("get setup request by status link: %w", err)
	}
	if !now.Before(r.ExpiresAt) {
		return Request{}, ErrContactLinkExpired
	}
	return r.Request, nil
}

// VerifyLink returns the request whose verification link has this secret,
// without verifying it. A verified request is returned even after the
// link's lifetime, so the page can say it is already confirmed; an
// unverified one past VerifyLinkLifetime is ErrContactLinkExpired.
func (s *Store) VerifyLink(ctx context.Context, secret secrets.LinkSecret, now time.Time) (Request, error) {
	r, err := getByVerifyLink(ctx, s.db, secret, false)
	if err != nil {
		return Request{}, err
	}
	if r.VerifiedAt == nil && (r.VerifyExpiresAt == nil || !now.Before(*r.VerifyExpiresAt)) {
		return Request{}, ErrContactLinkExpired
	}
	return r.Request, nil
}

// Verify confirms the contact's address and moves the request from
// unverified to submitted, into the staff queue. It returns a new status
// link for the page that confirms it, so the contact can go on to the
// status page from there. Verifying twice is not an error: the request is
// returned as it is, with no status link, so an old verification link
// never yields a fresh status link. A request withdrawn before
// verification is ErrInvalidTransition.
func (s *Store) Verify(ctx context.Context, secret secrets.LinkSecret, now time.Time) (Request, secrets.LinkSecret, error) {
	var out Request
	var status secrets.LinkSecret
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		r, err := getByVerifyLink(ctx, tx, secret, true)
		if err != nil {
			return err
		}
		if r.VerifiedAt != nil {
			out = r.Request
			return nil
		}
		if r.VerifyExpiresAt == nil || !now.Before(*r.VerifyExpiresAt) {
			return ErrContactLinkExpired
		}

		_, err = tx.ExecContext(ctx, `
			UPDATE setup_requests SET verified_at = $2, verify_expires_at = NULL WHERE id = $1`, r.ID, now)
		if err != nil {
			return fmt.Errorf("mark request verified: %w", database.Translate(err))
		}
		if out, err = Transition(ctx, tx, r.Request, StateSubmitted, ActorContact, ""); err != nil {
			return err
		}
		status, err = addStatusLink(ctx, tx, r.ID, now)
		return err
	})
	if err != nil {
		return Request{}, "", err
	}
	return out, status, nil
}

// Withdraw moves the request to withdrawn at the contact's wish, with their
// reason (cut to 4000 bytes) as the note. r is the version the contact saw, so a request that
// staff changed in the meantime is database.ErrConflict.
func (s *Store) Withdraw(ctx context.Context, r Request, reason string) (Request, error) {
	reason = clipNote(reason)
	var out Request
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		out, err = Transition(ctx, tx, r, StateWithdrawn, ActorContact, reason)
		return err
	})
	return out, err
}

// Resubmit replaces the request's values with sub after staff requested
// changes, and moves it back to submitted. The replaced values are kept in
// request_revisions. r is the version the contact edited: a request that
// changed since is database.ErrConflict, one not in changes_requested is
// ErrInvalidTransition, and a taken slug is a *SlugTakenError. The contact's
// email address is not changed, and note is cut to 4000 bytes.
func (s *Store) Resubmit(ctx context.Context, r Request, sub Submission, note string) (Request, error) {
	if r.State != StateChangesRequested {
		return Request{}, fmt.Errorf("%w: %s to %s", ErrInvalidTransition, r.State, StateSubmitted)
	}
	var out Request
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		slug, err := chooseSlug(ctx, tx, sub, r.ID)
		if err != nil {
			return err
		}
		sub.TenantSlug = slug
		if err := saveRevision(ctx, tx, r); err != nil {
			return err
		}
		if err := updateSubmission(ctx, tx, r, sub); err != nil {
			return err
		}
		out, err = Transition(ctx, tx, r, StateSubmitted, ActorContact, orDefault(clipNote(note), "Changes made and resubmitted."))
		return err
	})
	if err != nil {
		return Request{}, s.slugRace(ctx, sub, r.ID, err)
	}
	return out, nil
}

func saveRevision(ctx context.Context, tx *sqlx.Tx, r Request) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO request_revisions (request_id, version, request)
		SELECT id, version, to_jsonb(r) - 'verify_hash' FROM setup_requests r WHERE id = $1`, r.ID)
	if err != nil {
		return fmt.Errorf("save request revision: %w", database.Translate(err))
	}
	return nil
}

func updateSubmission(ctx context.Context, tx *sqlx.Tx, r Request, sub Submission) error {
	args := append([]any{r.ID, r.Version}, submissionValues(sub)...)
	res, err := tx.ExecContext(ctx, `
		UPDATE setup_requests SET company_name = $3, email_domains = $4, product = $5, contact_name = $6,
		    contact_phone = $7, metadata_xml = $8, idp_entity_id = $9, sso_url = $10, sso_binding = $11,
		    certificates = $12, metadata_report = $13, scim_requested = $14, require_sso = $15,
		    autoprovision = $16, notes = $17, tenant_slug = $18, contact_outside_domains = $19,
		    idp_vendor = $20, updated_at = now()
		WHERE id = $1 AND version = $2`, args...)
	if err != nil {
		return fmt.Errorf("update setup request: %w", database.Translate(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update setup request %s: %w", r.Reference, database.ErrConflict)
	}
	return nil
}

// ResendLinks mails new links for the most recent requests of the address
// email (at most maxResendRequests, withdrawn ones left out): a new
// verification link for unverified requests and a new status link for
// every one. Every older link of those requests stops working, since a
// contact asks for new links when one leaked. It returns how many mails it
// enqueued; callers should not tell the visitor, so the form does not
// reveal which addresses have requests.
func (s *Store) ResendLinks(ctx context.Context, email string, links ContactLinks, now time.Time) (int, error) {
	var sent int
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var requests []Request
		err := sqlx.SelectContext(ctx, tx, &requests, `
			SELECT `+RequestColumns+` FROM setup_requests
			WHERE lower(contact_email) = lower($1) AND state <> 'withdrawn'
			ORDER BY created_at DESC LIMIT $2 FOR UPDATE`, strings.TrimSpace(email), maxResendRequests)
		if err != nil {
			return fmt.Errorf("list requests to re-send: %w", database.Translate(err))
		}
		for _, r := range requests {
			if err := resendRequestLinks(ctx, tx, r, links, now); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	return sent, err
}

func resendRequestLinks(ctx context.Context, tx *sqlx.Tx, r Request, links ContactLinks, now time.Time) error {
	status, err := replaceStatusLinks(ctx, tx, r.ID, now)
	if err != nil {
		return err
	}
	if r.State != StateUnverified {
		return enqueueStatusMail(ctx, tx, r, "", status, links)
	}

	verify := secrets.NewLinkSecret()
	_, err = tx.ExecContext(ctx, `
		UPDATE setup_requests SET verify_hash = $2, verify_expires_at = $3 WHERE id = $1`,
		r.ID, verify.Hash(), now.Add(VerifyLinkLifetime))
	if err != nil {
		return fmt.Errorf("renew verification link: %w", database.Translate(err))
	}
	return enqueueVerifyMail(ctx, tx, r, links, verify, status)
}

// clipNote trims a note from the contact and cuts it to maxNotesLength
// bytes, keeping the text valid UTF-8.
func clipNote(note string) string {
	note = strings.TrimSpace(note)
	if len(note) > maxNotesLength {
		note = strings.ToValidUTF8(note[:maxNotesLength], "")
	}
	return note
}

// IsLinkError reports whether err means a link is not valid or expired.
func IsLinkError(err error) bool {
	return errors.Is(err, ErrContactLinkInvalid) || errors.Is(err, ErrContactLinkExpired)
}

// ExpiredLinkRetention is how long a status link's row outlives the link,
// so that a contact who opens an old mail learns that the link expired
// rather than that it is unknown.
const ExpiredLinkRetention = 90 * 24 * time.Hour

// DeleteOldStatusLinks deletes the status links that expired before
// before and returns how many it deleted. After that, such a link reads
// as unknown.
func (s *Store) DeleteOldStatusLinks(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM status_links WHERE expires_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("delete old status links: %w", database.Translate(err))
	}
	return res.RowsAffected()
}
