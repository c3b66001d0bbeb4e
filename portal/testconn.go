package portal

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Limits of a contact's test sign-ins: at most maxOpenTests started within
// samlRequestTTL, and a stored result bounded in size.
const (
	maxOpenTests        = 5
	maxTestAttributes   = 50
	maxTestValues       = 20
	maxTestValueLength  = 256
	connectionTestStart = "#connection-test"
)

// connectionTest is the outcome of a contact's last test sign-in, stored as
// JSON in setup_requests.test_result. The status page shows it to the
// contact and the request page to staff.
type connectionTest struct {
	OK bool `json:"ok"`
	// Code and Reason explain a failure; Reason is written for the contact.
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	// NameID and Attributes are what the IdP sent in a successful test.
	NameID       string          `json:"name_id,omitempty"`
	NameIDFormat string          `json:"name_id_format,omitempty"`
	Attributes   []samlAttribute `json:"attributes,omitempty"`
	At           time.Time       `json:"-"`
}

// loadConnectionTest returns a setup request's last test result, or nil
// when the contact has not tested yet.
func (s *Server) loadConnectionTest(ctx context.Context, requestID string) (*connectionTest, error) {
	var raw []byte
	var at sql.NullTime
	err := s.db.QueryRowxContext(ctx, `SELECT test_result, test_at FROM setup_requests WHERE id = $1`, requestID).Scan(&raw, &at)
	if err != nil {
		return nil, fmt.Errorf("get connection test: %w", database.Translate(err))
	}
	if raw == nil {
		return nil, nil
	}
	var out connectionTest
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode connection test: %w", err)
	}
	out.At = at.Time
	return &out, nil
}

// testConnection starts a test sign-in against the IdP settings of the
// setup request whose status link this is. The IdP answers at the ACS of
// the proposed tenant slug, which records the outcome on the request and
// sends the contact back to the status page. Nothing is activated.
func (s *Server) testConnection(c *gin.Context) error {
	ctx := c.Request.Context()
	noStore(c)
	secret := secrets.LinkSecret(c.Param("secret"))
	req, err := forms.NewStore(s.db).StatusLink(ctx, secret, s.now())
	if forms.IsLinkError(err) {
		return errLinkInvalid
	}
	if err != nil {
		return err
	}
	if req.State == forms.StateRejected || req.State == forms.StateWithdrawn {
		return userError(http.StatusConflict, "This request is closed, so its connection can no longer be tested.", nil)
	}
	if req.SSOURL == "" || len(req.Certificates) == 0 || !tenants.ValidSlug(req.TenantSlug) {
		return userError(http.StatusConflict, "Enter your IdP's SSO URL and signing certificate before you test the connection.", nil)
	}

	open, err := s.tenants.CountTestSAMLRequests(ctx, req.ID, s.now().Add(-samlRequestTTL))
	if err != nil {
		return err
	}
	if open >= maxOpenTests {
		c.Header("Retry-After", "60")
		return userError(http.StatusTooManyRequests, "You started several tests in the last few minutes. Finish one, or wait a few minutes and try again.", nil)
	}
	sealed, err := s.sealReturn("/setup/status/"+secret.Reveal(), req.ID)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "connection_test_started", "request", req.Reference)
	return s.startAuthn(c, authnStart{
		Slug: req.TenantSlug, SSOURL: req.SSOURL, SSOBinding: req.SSOBinding, FromForm: true,
		Request: tenants.SAMLRequest{SetupRequestID: &req.ID, Return: sealed},
	})
}

// finishTest stores the outcome of a test sign-in on the setup request and
// sends the contact back to the status page. It never signs anyone in.
func (s *Server) finishTest(c *gin.Context, target acsTarget, scan responseScan, ident samlIdentity, verifyErr error) error {
	ctx := c.Request.Context()
	req := target.setup
	if verifyErr == nil {
		fresh, err := s.tenants.RecordAssertionID(ctx, req.ID, ident.AssertionID, ident.ReplayUntil)
		if err != nil {
			return err
		}
		if !fresh {
			verifyErr = failure(codeReplay, "this assertion was already used", nil)
		}
	}
	result := testResult(ident, verifyErr)
	if !result.OK {
		f := asFailure(verifyErr)
		s.log.WarnContext(ctx, "saml_rejected", "tenant", target.slug, "code", f.Code, "reason", f.Reason, "test", true,
			"request", req.Reference, "response_id", truncate(scan.ResponseID, 100), "in_response_to", truncate(scan.InResponseTo, 100))
	}
	if err := s.storeTestResult(ctx, c.ClientIP(), target, result); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "connection_test_finished", "request", req.Reference, "ok", result.OK, "code", result.Code)

	back := "/setup"
	if target.pending.Return != nil {
		path, err := s.openReturn(*target.pending.Return, req.ID)
		if err != nil {
			return err
		}
		back = localPath(path)
	}
	return redirect(c, back+connectionTestStart)
}

// testResult builds the stored outcome, bounded in size.
func testResult(ident samlIdentity, verifyErr error) connectionTest {
	if verifyErr != nil {
		f := asFailure(verifyErr)
		return connectionTest{OK: false, Code: f.Code, Reason: f.Reason}
	}
	out := connectionTest{OK: true, NameID: truncate(ident.NameID, maxTestValueLength), NameIDFormat: ident.NameIDFormat}
	for i, attr := range ident.Attributes {
		if i == maxTestAttributes {
			break
		}
		kept := samlAttribute{Name: truncate(attr.Name, maxTestValueLength)}
		for j, v := range attr.Values {
			if j == maxTestValues {
				break
			}
			kept.Values = append(kept.Values, truncate(v, maxTestValueLength))
		}
		out.Attributes = append(out.Attributes, kept)
	}
	return out
}

// storeTestResult consumes the pending request and records the outcome and
// an audit event in one transaction.
func (s *Server) storeTestResult(ctx context.Context, clientIP string, target acsTarget, result connectionTest) error {
	body, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encode connection test: %w", err)
	}
	req := target.setup
	return database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		store := s.tenants.WithTx(tx)
		if err := store.ConsumeSAMLRequest(ctx, target.pending.ID, s.now()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE setup_requests SET test_result = $2, test_at = $3 WHERE id = $1`, req.ID, string(body), s.now())
		if err != nil {
			return fmt.Errorf("store connection test: %w", database.Translate(err))
		}
		return store.Audit(ctx, tenants.AuditEvent{
			Actor: "contact:" + req.ContactEmail, Action: "request.test_connection", RequestID: &req.ID, ClientIP: clientIP,
			Detail: map[string]any{"ok": result.OK, "code": result.Code},
		})
	})
}
