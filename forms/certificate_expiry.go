package forms

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// CertificateExpiryJob emails a tenant's IT contact and every active staff
// member when one of the tenant's IdP signing certificates comes within
// 30, 7 and 1 days of expiry (tenants.ExpiryThresholds), once per
// certificate and threshold. Several instances can run it at once:
// certificates are claimed with FOR UPDATE SKIP LOCKED and each notice is
// recorded in the transaction that enqueues its mail.
type CertificateExpiryJob struct {
	DB       *sqlx.DB
	Logger   *slog.Logger     // nil: slog.Default()
	Interval time.Duration    // between runs; zero means one hour
	Now      func() time.Time // nil: time.Now
}

// expiryBatch bounds the certificates one transaction claims.
const expiryBatch = 50

// Run calls RunOnce every Interval until ctx ends, logging failures, and
// returns nil when ctx ends.
func (j *CertificateExpiryJob) Run(ctx context.Context) error {
	interval := j.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if n, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.logger().ErrorContext(ctx, "certificate_expiry_failed", "error", err)
		} else if n > 0 {
			j.logger().InfoContext(ctx, "certificate_expiry_sent", "notices", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// RunOnce sends every notice that is due and returns how many certificates
// it sent notices for.
func (j *CertificateExpiryJob) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := database.WithTx(ctx, j.DB, func(tx *sqlx.Tx) error {
			var err error
			n, err = j.sendBatch(ctx, tx)
			return err
		})
		total += n
		if err != nil || n < expiryBatch {
			return total, err
		}
	}
}

func (j *CertificateExpiryJob) sendBatch(ctx context.Context, tx *sqlx.Tx) (int, error) {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	notices, err := tenants.NewStore(tx).ClaimExpiryNotices(ctx, now, expiryBatch)
	if err != nil || len(notices) == 0 {
		return 0, err
	}
	var staff []string
	if err := sqlx.SelectContext(ctx, tx, &staff, `SELECT email FROM staff WHERE disabled_at IS NULL ORDER BY email`); err != nil {
		return 0, fmt.Errorf("list staff: %w", database.Translate(err))
	}
	for _, n := range notices {
		if err := sendNotice(ctx, tx, n, staff, now); err != nil {
			return 0, err
		}
	}
	return len(notices), nil
}

func sendNotice(ctx context.Context, tx *sqlx.Tx, n tenants.ExpiryNotice, staff []string, now time.Time) error {
	days := int(math.Floor(n.Certificate.NotAfter.Sub(now).Hours() / 24))
	recipients := staff
	if n.Contact.Email != "" {
		recipients = append([]string{n.Contact.Email}, staff...)
	}
	subject := n.Certificate.Subject()
	for _, to := range recipients {
		msg, err := mail.CertificateExpiry(to, n.Tenant.Name, n.Tenant.Slug, subject, n.Certificate.NotAfter, days)
		if err != nil {
			return fmt.Errorf("build certificate expiry mail: %w", err)
		}
		if _, err := mail.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
	}
	system := Actor{Name: "system"}
	return system.audit(ctx, tx, "certificate.expiry_notice", n.Tenant.ID, "", map[string]any{
		"fingerprint": n.Certificate.Fingerprint, "not_after": n.Certificate.NotAfter,
		"threshold_days": n.ThresholdDays, "recipients": len(recipients),
	})
}

func (j *CertificateExpiryJob) logger() *slog.Logger {
	if j.Logger == nil {
		return slog.Default()
	}
	return j.Logger
}
