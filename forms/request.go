package forms

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// State is the review state of a setup request.
type State string

// The states of a setup request:
//
//	unverified → submitted → in_review → (changes_requested ↔ submitted) → approved | rejected
//
// and withdrawn, by the contact, from any state before a decision.
const (
	StateUnverified       State = "unverified"
	StateSubmitted        State = "submitted"
	StateInReview         State = "in_review"
	StateChangesRequested State = "changes_requested"
	StateApproved         State = "approved"
	StateRejected         State = "rejected"
	StateWithdrawn        State = "withdrawn"
)

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	StateUnverified:       {StateSubmitted, StateWithdrawn},
	StateSubmitted:        {StateInReview, StateChangesRequested, StateApproved, StateRejected, StateWithdrawn},
	StateInReview:         {StateChangesRequested, StateApproved, StateRejected, StateWithdrawn, StateSubmitted},
	StateChangesRequested: {StateSubmitted, StateWithdrawn, StateRejected},
}

// CanMove reports whether a request in state from may move to state to.
func CanMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Final reports whether no further transition is possible.
func (s State) Final() bool { return len(transitions[s]) == 0 }

// Label returns the state as people read it.
func (s State) Label() string {
	switch s {
	case StateUnverified:
		return "Waiting for email confirmation"
	case StateSubmitted:
		return "Submitted"
	case StateInReview:
		return "In review"
	case StateChangesRequested:
		return "Changes requested"
	case StateApproved:
		return "Approved"
	case StateRejected:
		return "Rejected"
	case StateWithdrawn:
		return "Withdrawn"
	}
	return string(s)
}

// Request is a setup request as stored.
type Request struct {
	ID             string          `db:"id"`
	Reference      string          `db:"reference"`
	State          State           `db:"state"`
	Version        int             `db:"version"`
	CompanyName    string          `db:"company_name"`
	EmailDomains   pq.StringArray  `db:"email_domains"`
	Product        tenants.Product `db:"product"`
	ContactName    string          `db:"contact_name"`
	ContactEmail   string          `db:"contact_email"`
	ContactPhone   string          `db:"contact_phone"`
	MetadataXML    string          `db:"metadata_xml"`
	IdPEntityID    string          `db:"idp_entity_id"`
	SSOURL         string          `db:"sso_url"`
	SSOBinding     string          `db:"sso_binding"`
	Certificates   pq.ByteaArray   `db:"certificates"`
	MetadataReport []byte          `db:"metadata_report"`
	SCIMRequested  bool            `db:"scim_requested"`
	RequireSSO     bool            `db:"require_sso"`
	Autoprovision  bool            `db:"autoprovision"`
	Notes          string          `db:"notes"`
	VerifiedAt     *time.Time      `db:"verified_at"`
	TenantID       *string         `db:"tenant_id"`
	ClaimedBy      *string         `db:"claimed_by"`
	CreatedAt      time.Time       `db:"created_at"`
	UpdatedAt      time.Time       `db:"updated_at"`
	SubmittedAt    *time.Time      `db:"submitted_at"`
	// TenantSlug is the slug the tenant is created under on approval; the
	// contact has already entered URLs containing it in their IdP.
	TenantSlug string `db:"tenant_slug"`
	// ContactOutsideDomains is set when ContactEmail is in none of
	// EmailDomains: accepted, but staff should check the contact.
	ContactOutsideDomains bool `db:"contact_outside_domains"`
	// IdPVendor names the contact's IdP product (see IdPVendors), or is empty.
	IdPVendor string `db:"idp_vendor"`
}

// RequestColumns lists the setup_requests columns in Request's order.
const RequestColumns = `id, reference, state, version, company_name, email_domains, product, contact_name,
	contact_email, contact_phone, metadata_xml, idp_entity_id, sso_url, sso_binding, certificates,
	metadata_report, scim_requested, require_sso, autoprovision, notes, verified_at, tenant_id, claimed_by,
	created_at, updated_at, submitted_at, tenant_slug, contact_outside_domains, idp_vendor`

// Event is one entry of a request's history.
type Event struct {
	ID        int64     `db:"id"`
	RequestID string    `db:"request_id"`
	At        time.Time `db:"at"`
	Actor     string    `db:"actor"`
	FromState *State    `db:"from_state"`
	ToState   State     `db:"to_state"`
	Note      string    `db:"note"`
}

// Store reads and writes setup requests.
type Store struct {
	db *sqlx.DB
}

// NewStore returns a store on db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// Get returns a request by ID.
func (s *Store) Get(ctx context.Context, id string) (Request, error) {
	return getRequest(ctx, s.db, `id = $1`, id)
}

func getRequest(ctx context.Context, q sqlx.QueryerContext, where string, arg any) (Request, error) {
	var r Request
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+RequestColumns+` FROM setup_requests WHERE `+where, arg)
	if err != nil {
		return Request{}, fmt.Errorf("get setup request: %w", database.Translate(err))
	}
	return r, nil
}

// Events returns a request's history, oldest first.
func (s *Store) Events(ctx context.Context, requestID string) ([]Event, error) {
	var out []Event
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, request_id, at, actor, from_state, to_state, note FROM request_events
		WHERE request_id = $1 ORDER BY at, id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list request events: %w", database.Translate(err))
	}
	return out, nil
}

// Transition moves a request from the version the caller saw to state to,
// recording actor and note in its history. A request changed since the
// caller read it (another version) is database.ErrConflict, so concurrent
// reviewers never overwrite each other. A move the state machine forbids is
// ErrInvalidTransition. Run it in the transaction that does the rest of the
// work of the move.
func Transition(ctx context.Context, tx *sqlx.Tx, r Request, to State, actor, note string) (Request, error) {
	if !CanMove(r.State, to) {
		return Request{}, fmt.Errorf("%w: %s to %s", ErrInvalidTransition, r.State, to)
	}
	var out Request
	err := sqlx.GetContext(ctx, tx, &out, `
		UPDATE setup_requests SET state = $3, version = version + 1, updated_at = now(),
		       submitted_at = CASE WHEN $3 = 'submitted' THEN now() ELSE submitted_at END
		WHERE id = $1 AND version = $2
		RETURNING `+RequestColumns, r.ID, r.Version, to)
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return Request{}, fmt.Errorf("move request %s: %w", r.Reference, database.ErrConflict)
		}
		return Request{}, fmt.Errorf("move request %s: %w", r.Reference, err)
	}
	if err := addEvent(ctx, tx, r.ID, actor, &r.State, to, note); err != nil {
		return Request{}, err
	}
	return out, nil
}

func addEvent(ctx context.Context, tx *sqlx.Tx, requestID, actor string, from *State, to State, note string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO request_events (request_id, actor, from_state, to_state, note) VALUES ($1, $2, $3, $4, $5)`,
		requestID, actor, from, to, note)
	if err != nil {
		return fmt.Errorf("record request event: %w", database.Translate(err))
	}
	return nil
}

// ErrInvalidTransition means the state machine forbids the requested move.
var ErrInvalidTransition = fmt.Errorf("invalid state change")

// referenceAlphabet leaves out letters and digits that people confuse
// (0/O, 1/I/L) when reading a reference code aloud.
const referenceAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewReference returns a short human-readable code such as "GH-7KQ4-M2XD".
// It draws eight characters uniformly from referenceAlphabet.
func NewReference() string {
	out := []byte("GH-")
	buf := make([]byte, 1)
	for n := 0; n < 8; {
		rand.Read(buf)
		// Reject bytes past the largest multiple of the alphabet size, so
		// every character is equally likely.
		if int(buf[0]) >= 256-256%len(referenceAlphabet) {
			continue
		}
		if n == 4 {
			out = append(out, '-')
		}
		out = append(out, referenceAlphabet[int(buf[0])%len(referenceAlphabet)])
		n++
	}
	return string(out)
}
