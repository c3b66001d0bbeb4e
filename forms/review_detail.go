package forms

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// RequestDetail is everything the staff request page shows.
type RequestDetail struct {
	Request Request
	// Report is the stored metadata validated again now, so certificate
	// expiry and warnings are current.
	Report  Report
	Stored  StoredReport // the source of the settings, as submitted
	Meeting Meeting
	// MeetingRecordedBy names the staff member who recorded the meeting,
	// as the timeline names actors.
	MeetingRecordedBy string
	ClaimedName       string
	Test              *TestResult // nil until the contact tested the connection
	Changes           []Change    // against the previous submission; nil when there is none
	HasPrevious       bool
	Timeline          []TimelineEntry
}

// TestResult is the outcome of the contact's last test sign-in, as the
// sign-in code stored it in setup_requests.test_result.
type TestResult struct {
	At     *time.Time
	Fields map[string]any // the stored JSON object's fields
}

// OK reports the stored "ok" field, and whether it was present.
func (t TestResult) OK() (ok, present bool) {
	ok, present = t.Fields["ok"].(bool)
	return ok, present
}

// Detail gathers a request's page at time now.
func (s *Store) Detail(ctx context.Context, id string, now time.Time) (RequestDetail, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return RequestDetail{}, err
	}
	d := RequestDetail{Request: r}
	json.Unmarshal(r.MetadataReport, &d.Stored)
	d.Report = revalidate(r, now)

	if d.Meeting, err = requestMeeting(ctx, s.db, id); err != nil {
		return RequestDetail{}, err
	}
	if d.MeetingRecordedBy, err = s.actorName(ctx, d.Meeting.RecordedBy); err != nil {
		return RequestDetail{}, err
	}
	if r.ClaimedBy != nil {
		sqlx.GetContext(ctx, s.db, &d.ClaimedName, `SELECT name FROM staff WHERE id = $1`, *r.ClaimedBy)
	}
	if d.Test, err = s.testResult(ctx, id); err != nil {
		return RequestDetail{}, err
	}
	if d.Changes, d.HasPrevious, err = s.changes(ctx, id); err != nil {
		return RequestDetail{}, err
	}
	if d.Timeline, err = s.timeline(ctx, id); err != nil {
		return RequestDetail{}, err
	}
	return d, nil
}

// revalidate runs the metadata validator on the stored document, or checks
// the stored certificates of settings entered by hand.
func revalidate(r Request, now time.Time) Report {
	if r.MetadataXML != "" {
		return ValidateMetadata([]byte(r.MetadataXML), ValidateOptions{Now: now, EntityID: r.IdPEntityID})
	}
	md := &Metadata{EntityID: r.IdPEntityID}
	if r.SSOURL != "" {
		md.SSOEndpoints = []Endpoint{{Binding: Binding(r.SSOBinding), Location: r.SSOURL}}
	}
	var problems problemList
	for _, der := range r.Certificates {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			problems.errorf(fieldCertificate, "A stored certificate does not parse: %v.", err)
			continue
		}
		md.SigningCerts = append(md.SigningCerts, describeCertificate(cert))
	}
	checkCertificates(md.SigningCerts, now, fieldCertificate, &problems)
	return Report{Metadata: md, Problems: problems}
}

// testResult reads the test-connection columns through to_jsonb, so the
// page works before and after the migration that adds them.
func (s *Store) testResult(ctx context.Context, id string) (*TestResult, error) {
	var row struct {
		Result []byte  `db:"result"`
		At     *string `db:"at"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT to_jsonb(r)->'test_result' AS result, to_jsonb(r)->>'test_at' AS at FROM setup_requests r WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("get test result: %w", database.Translate(err))
	}
	if len(row.Result) == 0 || string(row.Result) == "null" {
		return nil, nil
	}
	out := &TestResult{}
	if err := json.Unmarshal(row.Result, &out.Fields); err != nil {
		out.Fields = map[string]any{"result": string(row.Result)}
	}
	if row.At != nil {
		if at, err := time.Parse(time.RFC3339Nano, *row.At); err == nil {
			out.At = &at
		}
	}
	return out, nil
}
