package forms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// WorkflowConfig holds the dependencies and durations of the approval workflow.
type WorkflowConfig struct {
	DB      *sqlx.DB
	Keyring *secrets.Keyring
	// BaseURL is the public URL without a trailing slash; mailed links
	// start with it.
	BaseURL string
	// DeliveryTTL is how long a token delivery can be revealed; zero means
	// tenants.DefaultDeliveryTTL.
	DeliveryTTL time.Duration
	// RotationGrace is how long a rotated-out token keeps working; zero
	// means tenants.DefaultRotationGrace.
	RotationGrace time.Duration
	Now           func() time.Time // nil: time.Now
}

// Workflow runs the staff side of a setup request (claim, meeting, approve,
// reject, request changes) and the token lifecycle of the tenants it
// activates. Every method runs in one transaction that also writes the
// audit trail and enqueues the mail, so nothing happens unaudited or
// without its email.
type Workflow struct {
	cfg   WorkflowConfig
	store *Store
}

// NewWorkflow returns a workflow with cfg's zero fields set to defaults.
func NewWorkflow(cfg WorkflowConfig) *Workflow {
	if cfg.DeliveryTTL <= 0 {
		cfg.DeliveryTTL = tenants.DefaultDeliveryTTL
	}
	if cfg.RotationGrace <= 0 {
		cfg.RotationGrace = tenants.DefaultRotationGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Workflow{cfg: cfg, store: NewStore(cfg.DB)}
}

// RotationGrace returns how long a rotated-out token keeps working.
func (w *Workflow) RotationGrace() time.Duration { return w.cfg.RotationGrace }

// Review errors that pages explain to staff.
var (
	ErrMeetingRequired = errors.New("a Marketplace request needs a recorded configuration meeting before approval")
	ErrNoteRequired    = errors.New("rejecting or requesting changes needs a note for the contact")
)

// MaxNoteLength is the longest note staff can send with a decision, in characters.
const MaxNoteLength = 4000

// Decision is a staff member's decision on a setup request.
type Decision struct {
	RequestID string
	// Version is the request's version the staff member saw; a request
	// changed since is database.ErrConflict.
	Version int
	To      State  // StateApproved, StateRejected or StateChangesRequested
	Note    string // shown to the contact; required unless approving
	// Slug is the tenant slug to approve under; empty keeps the request's.
	Slug  string
	Actor Actor
}

// Decide applies a decision and emails the contact. Approval activates the
// tenant (see ActivateTenant) and, when a new SCIM token was issued, emails
// the contact a one-time link that reveals it, after the approval mail so
// the contact reads them in that order. It returns the activation, which
// is zero unless approving.
func (w *Workflow) Decide(ctx context.Context, d Decision) (Activation, error) {
	note := strings.TrimSpace(d.Note)
	if err := checkDecision(d.To, note); err != nil {
		return Activation{}, err
	}
	var out Activation
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		r, err := lockRequest(ctx, tx, d.RequestID, d.Version)
		if err != nil {
			return err
		}
		if !CanMove(r.State, d.To) {
			return fmt.Errorf("%w: %s to %s", ErrInvalidTransition, r.State, d.To)
		}
		if d.To == StateApproved {
			out, r, note, err = w.approve(ctx, tx, r, d, note)
		} else {
			r, err = Transition(ctx, tx, r, d.To, d.Actor.Name, note)
		}
		if err != nil {
			return err
		}
		if err := w.mailStatus(ctx, tx, r, note, approvalSCIM(r, out)); err != nil {
			return err
		}
		if out.Token != "" {
			contact := tenants.Contact{Name: r.ContactName, Email: r.ContactEmail}
			if _, err := w.deliverToken(ctx, tx, d.Actor, out.Tenant, contact, out.TokenRecord, out.Token, r.ID); err != nil {
				return err
			}
		}
		return d.Actor.audit(ctx, tx, "request."+decisionVerb(d.To), stringOrEmpty(r.TenantID), r.ID,
			map[string]any{"reference": r.Reference, "note": note})
	})
	return out, err
}

func checkDecision(to State, note string) error {
	switch {
	case to != StateApproved && to != StateRejected && to != StateChangesRequested:
		return fmt.Errorf("%w: staff cannot move a request to %s", ErrInvalidTransition, to)
	case to != StateApproved && note == "":
		return ErrNoteRequired
	case len([]rune(note)) > MaxNoteLength:
		return inputError("note", "Shorten the note to at most %d characters.", MaxNoteLength)
	}
	return nil
}

func decisionVerb(to State) string {
	switch to {
	case StateApproved:
		return "approve"
	case StateRejected:
		return "reject"
	}
	return "request_changes"
}

// lockRequest reads a request for update and checks that it is still at
// the version the caller saw.
func lockRequest(ctx context.Context, tx *sqlx.Tx, id string, version int) (Request, error) {
	var r Request
	err := sqlx.GetContext(ctx, tx, &r, `SELECT `+RequestColumns+` FROM setup_requests WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return Request{}, fmt.Errorf("get setup request: %w", database.Translate(err))
	}
	if r.Version != version {
		return Request{}, fmt.Errorf("request %s is at version %d, not %d: %w", r.Reference, r.Version, version, database.ErrConflict)
	}
	return r, nil
}

// approve activates the request's tenant and moves the request to
// approved. It returns the note for the contact, with the tenant's slug
// added when staff changed it. The caller mails the approval, then
// delivers the activation's new token, if any.
func (w *Workflow) approve(ctx context.Context, tx *sqlx.Tx, r Request, d Decision, note string) (Activation, Request, string, error) {
	meeting, err := requestMeeting(ctx, tx, r.ID)
	if err != nil {
		return Activation{}, Request{}, "", err
	}
	if r.Product == tenants.Marketplace && meeting.On == nil {
		return Activation{}, Request{}, "", ErrMeetingRequired
	}
	slug := strings.TrimSpace(d.Slug)
	if slug == "" {
		slug = r.TenantSlug
	}

	act, err := ActivateTenant(ctx, tx, activationFor(ctx, tx, r, slug, d.Actor))
	if err != nil {
		return Activation{}, Request{}, "", err
	}
	r, err = Transition(ctx, tx, r, StateApproved, d.Actor.Name, note)
	if err != nil {
		return Activation{}, Request{}, "", err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE setup_requests SET tenant_id = $2, tenant_slug = $3 WHERE id = $1`,
		r.ID, act.Tenant.ID, act.Tenant.Slug); err != nil {
		return Activation{}, Request{}, "", fmt.Errorf("link request to tenant: %w", database.Translate(err))
	}
	if act.Tenant.Slug != r.TenantSlug {
		note = strings.TrimSpace(note + fmt.Sprintf("\n\nYour tenant's slug is %s, not %s as requested: "+
			"use %s/saml/%s/acs and %s/saml/%s/metadata in your IdP.", act.Tenant.Slug, r.TenantSlug,
			w.cfg.BaseURL, act.Tenant.Slug, w.cfg.BaseURL, act.Tenant.Slug))
	}
	r.TenantID, r.TenantSlug = &act.Tenant.ID, act.Tenant.Slug
	return act, r, note, nil
}

// activationFor builds the activation of an approved request. A request
// that already belongs to a tenant (a later change to its IdP settings)
// updates that tenant and keeps the switches only staff set.
func activationFor(ctx context.Context, tx *sqlx.Tx, r Request, slug string, actor Actor) ActivationInput {
	in := ActivationInput{
		Slug: slug, Name: r.CompanyName, Product: r.Product,
		Settings: tenants.Settings{SCIM: r.SCIMRequested, RequireSSO: r.RequireSSO, Autoprovision: r.Autoprovision},
		SAML: &tenants.SAMLConnection{
			IdPEntityID: r.IdPEntityID, SSOURL: r.SSOURL, SSOBinding: r.SSOBinding,
			MetadataXML: r.MetadataXML, Certificates: r.Certificates,
		},
		Contact:        tenants.Contact{Name: r.ContactName, Email: r.ContactEmail},
		SetupRequestID: r.ID,
		Actor:          actor,
	}
	if r.TenantID != nil {
		in.TenantID = *r.TenantID
		if t, err := tenants.NewStore(tx).ByID(ctx, *r.TenantID); err == nil {
			in.Settings.IdPInitiated, in.Settings.AllowSHA1 = t.IdPInitiated, t.AllowSHA1
		}
	}
	return in
}

// mailStatus emails the contact the request's new state with a status link
// of its own, since only the hashes of earlier links are stored. The
// earlier links keep working. scim is the SCIM news of an approval.
func (w *Workflow) mailStatus(ctx context.Context, tx *sqlx.Tx, r Request, note string, scim mail.ApprovalSCIM) error {
	secret, err := addStatusLink(ctx, tx, r.ID, w.cfg.Now())
	if err != nil {
		return err
	}
	msg, err := statusMessage(r, r.State, note, w.StatusURL(secret), scim)
	if err != nil {
		return err
	}
	_, err = mail.Enqueue(ctx, tx, msg)
	return err
}

// approvalSCIM returns the SCIM news of r's approval mail: the token mail
// of act follows, the tenant keeps the token it was sent before, or SCIM
// was not requested.
func approvalSCIM(r Request, act Activation) mail.ApprovalSCIM {
	switch {
	case act.Token != "":
		return mail.SCIMTokenFollows
	case r.SCIMRequested:
		return mail.SCIMTokenSent
	}
	return mail.SCIMNotRequested
}

// StatusURL returns the contact's private status page for a link secret.
func (w *Workflow) StatusURL(secret secrets.LinkSecret) string {
	return w.cfg.BaseURL + "/setup/status/" + secret.Reveal()
}

// RevealURL returns the page that reveals a token delivery once.
func (w *Workflow) RevealURL(secret secrets.LinkSecret) string {
	return w.cfg.BaseURL + "/token/" + secret.Reveal()
}

// Claim assigns a request to the acting staff member and moves a submitted
// request into review. Claiming a request someone else claimed takes it
// over; the history records both.
func (w *Workflow) Claim(ctx context.Context, actor Actor, requestID string, version int) (Request, error) {
	var r Request
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		var err error
		if r, err = lockRequest(ctx, tx, requestID, version); err != nil {
			return err
		}
		if r.State != StateSubmitted && r.State != StateInReview {
			return fmt.Errorf("%w: a request %s cannot be claimed", ErrInvalidTransition, r.State)
		}
		previous := stringOrEmpty(r.ClaimedBy)
		if r.State == StateSubmitted {
			if r, err = Transition(ctx, tx, r, StateInReview, actor.Name, "Claimed for review."); err != nil {
				return err
			}
		}
		err = sqlx.GetContext(ctx, tx, &r, `
			UPDATE setup_requests SET claimed_by = $2, claimed_at = now(), version = version + 1, updated_at = now()
			WHERE id = $1 RETURNING `+RequestColumns, r.ID, actor.StaffID)
		if err != nil {
			return fmt.Errorf("claim request: %w", database.Translate(err))
		}
		return actor.audit(ctx, tx, "request.claim", stringOrEmpty(r.TenantID), r.ID,
			map[string]any{"reference": r.Reference, "previous_claim": previous})
	})
	return r, err
}

// Meeting is the configuration meeting staff held with a Marketplace
// customer before approval.
type Meeting struct {
	On         *time.Time `db:"meeting_on"`
	Note       string     `db:"meeting_note"`
	RecordedBy string     `db:"meeting_recorded_by"`
}

func requestMeeting(ctx context.Context, q sqlx.QueryerContext, requestID string) (Meeting, error) {
	var m Meeting
	err := sqlx.GetContext(ctx, q, &m, `
		SELECT meeting_on, meeting_note, meeting_recorded_by FROM setup_requests WHERE id = $1`, requestID)
	if err != nil {
		return Meeting{}, fmt.Errorf("get meeting: %w", database.Translate(err))
	}
	return m, nil
}

// RecordMeeting records the configuration meeting of a request on date on
// with a note, replacing an earlier record.
func (w *Workflow) RecordMeeting(ctx context.Context, actor Actor, requestID string, version int, on time.Time, note string) error {
	note = strings.TrimSpace(note)
	if on.IsZero() {
		return inputError("meeting_on", "Enter the date of the meeting.")
	}
	if note == "" || len([]rune(note)) > MaxNoteLength {
		return inputError("meeting_note", "Enter what was agreed in the meeting, in at most %d characters.", MaxNoteLength)
	}
	return database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		r, err := lockRequest(ctx, tx, requestID, version)
		if err != nil {
			return err
		}
		if r.State.Final() {
			return fmt.Errorf("%w: the request is %s", ErrInvalidTransition, r.State)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE setup_requests SET meeting_on = $2, meeting_note = $3, meeting_recorded_by = $4,
			       version = version + 1, updated_at = now()
			WHERE id = $1`, r.ID, on.Format(time.DateOnly), note, actor.Name)
		if err != nil {
			return fmt.Errorf("record meeting: %w", database.Translate(err))
		}
		return actor.audit(ctx, tx, "request.meeting", stringOrEmpty(r.TenantID), r.ID,
			map[string]any{"reference": r.Reference, "meeting_on": on.Format(time.DateOnly), "note": note})
	})
}

func stringOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
