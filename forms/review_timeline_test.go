package forms

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

func TestActorLabel(t *testing.T) {
	t.Parallel()
	names := map[string]string{"rita@gatehouse.example": "Rita Reviewer", "blank@gatehouse.example": " "}
	cases := []struct {
		actor string
		want  string
	}{
		{"staff:rita@gatehouse.example", "Rita Reviewer"},
		{"staff:gone@gatehouse.example", "gone@gatehouse.example"},
		{"staff:blank@gatehouse.example", "blank@gatehouse.example"},
		{"contact", "IT contact"},
		{"contact:ada@acme.example", "IT contact"},
		{"system", "gatehouse"},
		{"operator", "Operator, on the command line"},
		{"scim", "SCIM client"},
		{"user:5f0c", "Tenant user"},
		{"anonymous", "Visitor not signed in"},
		{"robot", "robot"},
	}
	for _, tc := range cases {
		if got := actorLabel(tc.actor, names); got != tc.want {
			t.Errorf("actorLabel(%q) = %q, want %q", tc.actor, got, tc.want)
		}
	}
}

func TestStateChangeTitle(t *testing.T) {
	t.Parallel()
	state := func(s State) *State { return &s }
	cases := []struct {
		from *State
		to   State
		want string
	}{
		{nil, StateUnverified, "Request created"},
		{state(StateUnverified), StateSubmitted, "Email address confirmed; request submitted"},
		{state(StateChangesRequested), StateSubmitted, "Changes resubmitted"},
		{state(StateInReview), StateSubmitted, "Returned to the queue"},
		{state(StateSubmitted), StateInReview, "Review started"},
		{state(StateInReview), StateChangesRequested, "Changes requested"},
		{state(StateInReview), StateApproved, "Approved"},
		{state(StateSubmitted), StateRejected, "Rejected"},
		{state(StateUnverified), StateWithdrawn, "Withdrawn"},
	}
	for _, tc := range cases {
		if got := stateChangeTitle(tc.from, tc.to); got != tc.want {
			t.Errorf("stateChangeTitle(%v, %s) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestAuditTitle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		action string
		detail map[string]any
		want   string
	}{
		{"tenant.create", nil, "Tenant created"},
		{"tenant.saml", nil, "SAML connection set"},
		{"token.issue", map[string]any{"reason": "activation"}, "SCIM token issued"},
		{"token.deliver", nil, "Token link emailed"},
		{"token.resend", nil, "Token link emailed again"},
		{"request.claim", nil, "Claimed for review"},
		{"request.meeting", nil, "Configuration meeting recorded"},
		{"request.test_connection", map[string]any{"ok": true}, "Connection test succeeded"},
		{"request.test_connection", map[string]any{"ok": false, "code": "signature"}, "Connection test failed"},
		{"request.test_connection", nil, "Connection tested"},
		{"widget.frobnicate", nil, "widget.frobnicate"},
	}
	for _, tc := range cases {
		if got := auditTitle(tc.action, tc.detail); got != tc.want {
			t.Errorf("auditTitle(%q, %v) = %q, want %q", tc.action, tc.detail, got, tc.want)
		}
	}
}

// auditActionPattern finds the action literal of an audit call or an
// AuditEvent in Go source.
var auditActionPattern = regexp.MustCompile(`(?:[aA]udit\w*\(.*|Action: )"([a-z]+\.[a-z_]+)"`)

// TestAuditTitlesCoverActions reads the module's Go source for the actions
// it audits, so a new action cannot reach a timeline as a raw code.
func TestAuditTitlesCoverActions(t *testing.T) {
	t.Parallel()
	found := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range auditActionPattern.FindAllStringSubmatch(string(src), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 20 {
		t.Fatalf("found only %d audited actions in the source, so the pattern no longer matches the audit calls", len(found))
	}
	for action := range found {
		if _, ok := auditTitles[action]; !ok {
			t.Errorf("audited action %q has no title in auditTitles", action)
		}
	}
}

func TestTimelineOfApprovedRequest(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	staff, _, err := NewStaffStore(db).Add(ctx, "rita@gatehouse.example", "Rita Reviewer", RoleReviewer)
	if err != nil {
		t.Fatal(err)
	}
	r := submittedRequest(t, db, validInput(t))

	flow := NewWorkflow(WorkflowConfig{
		DB: db, BaseURL: "https://gatehouse.example", Now: func() time.Time { return submissionClock },
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(make([]byte, 32))),
	})
	actor := Actor{Name: staff.Actor(), StaffID: staff.ID}
	if r, err = flow.Claim(ctx, actor, r.ID, r.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Decide(ctx, Decision{RequestID: r.ID, Version: r.Version, To: StateApproved, Actor: actor}); err != nil {
		t.Fatal(err)
	}

	detail, err := NewStore(db).Detail(ctx, r.ID, submissionClock)
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ Title, Actor string }
	var got []line
	for _, e := range detail.Timeline {
		got = append(got, line{e.Title, e.Actor})
	}
	want := []line{
		{"Request created", "IT contact"},
		{"Email address confirmed; request submitted", "IT contact"},
		{"Review started", "Rita Reviewer"},
		{"Claimed for review", "Rita Reviewer"},
		{"Approved", "Rita Reviewer"},
		{"Tenant created", "Rita Reviewer"},
		{"SAML connection set", "Rita Reviewer"},
		{"SCIM token issued", "Rita Reviewer"},
		{"Token link emailed", "Rita Reviewer"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
}

// submittedRequest stores the input as a request and confirms it as the
// contact would.
func submittedRequest(t *testing.T, db *sqlx.DB, in SubmissionInput) Request {
	t.Helper()
	ctx := context.Background()
	sub, problems := ValidateSubmission(ctx, in, SubmissionOptions{Now: submissionClock})
	if problems.HasErrors() {
		t.Fatal(problems.Errors())
	}
	r, err := NewStore(db).Create(ctx, sub, testLinks, submissionClock)
	if err != nil {
		t.Fatal(err)
	}
	err = database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
		r, err = Transition(ctx, tx, r, StateSubmitted, ActorContact, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
