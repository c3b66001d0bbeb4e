package forms

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

func TestApprovalMails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		scim      string
		wantKinds []string // in outbox order
		wantText  string   // in the approval mail
	}{
		{"SCIM requested", "yes", []string{mail.KindRequestStatus, mail.KindTokenDelivery},
			"You requested SCIM provisioning, so a second email follows with a link that shows your SCIM token once."},
		{"SCIM not requested", "no", []string{mail.KindRequestStatus},
			"Your request did not include SCIM provisioning, so there is no SCIM token to set up."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			in := validInput(t)
			in.SCIM = tc.scim
			r := submittedRequest(t, db, in)
			approveAsStaff(t, db, r)

			mails := outboxAfterVerification(t, db)
			var kinds []string
			for _, m := range mails {
				kinds = append(kinds, m.Kind)
			}
			if diff := cmp.Diff(tc.wantKinds, kinds); diff != "" {
				t.Fatalf("mails by outbox ID (-want +got):\n%s", diff)
			}
			if !strings.Contains(mails[0].Text, tc.wantText) {
				t.Errorf("approval mail lacks %q:\n%s", tc.wantText, mails[0].Text)
			}
			if strings.Contains(mails[0].Text, "If you requested") {
				t.Errorf("approval mail guesses whether SCIM was requested:\n%s", mails[0].Text)
			}
		})
	}
}

func TestResentApprovalMailNamesSentToken(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	r := submittedRequest(t, db, validInput(t))
	approveAsStaff(t, db, r)

	if _, err := NewStore(db).ResendLinks(context.Background(), r.ContactEmail, testLinks, submissionClock); err != nil {
		t.Fatal(err)
	}
	mails := outboxAfterVerification(t, db)
	resent := mails[len(mails)-1]
	if want := "SCIM provisioning uses the token we sent you in a separate email."; !strings.Contains(resent.Text, want) {
		t.Errorf("re-sent approval mail lacks %q:\n%s", want, resent.Text)
	}
}

func TestApprovalSCIM(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		requested bool
		token     secrets.Token
		want      mail.ApprovalSCIM
	}{
		{"new token", true, "gh_scim_new", mail.SCIMTokenFollows},
		{"tenant keeps its token", true, "", mail.SCIMTokenSent},
		{"not requested", false, "", mail.SCIMNotRequested},
	}
	for _, tc := range cases {
		if got := approvalSCIM(Request{SCIMRequested: tc.requested}, Activation{Token: tc.token}); got != tc.want {
			t.Errorf("%s: approvalSCIM = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// approveAsStaff approves r through the workflow as a staff member.
func approveAsStaff(t *testing.T, db *sqlx.DB, r Request) {
	t.Helper()
	flow := NewWorkflow(WorkflowConfig{
		DB: db, BaseURL: "https://gatehouse.example", Now: func() time.Time { return submissionClock },
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(make([]byte, 32))),
	})
	actor := Actor{Name: "staff:rita@gatehouse.example"}
	if _, err := flow.Decide(context.Background(), Decision{RequestID: r.ID, Version: r.Version, To: StateApproved, Actor: actor}); err != nil {
		t.Fatalf("approve: %v", err)
	}
}

type outboxRow struct {
	Kind string `db:"kind"`
	Text string `db:"text_body"`
}

// outboxAfterVerification lists the mail after the verification mail, by
// outbox ID.
func outboxAfterVerification(t *testing.T, db *sqlx.DB) []outboxRow {
	t.Helper()
	var rows []outboxRow
	err := db.Select(&rows, `SELECT kind, text_body FROM outbox WHERE kind <> $1 ORDER BY id`, mail.KindVerifyRequest)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
