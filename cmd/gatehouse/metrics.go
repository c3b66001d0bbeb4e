package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/mail"
)

// dbCollector exports the connection pool's statistics and, read from the
// database at scrape time, the outbox depth and token events. Reading the
// shared tables makes every instance report the same totals.
type dbCollector struct {
	db  *sqlx.DB
	log *slog.Logger

	open, inUse, idle, waitCount, waitSeconds *prometheus.Desc
	outboxPending, outboxDead, outboxOldest   *prometheus.Desc
	tokenEvents                               *prometheus.Desc
}

func newDBCollector(db *sqlx.DB, log *slog.Logger) *dbCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_"+name, help, labels, nil)
	}
	return &dbCollector{
		db: db, log: log,
		open:          d("db_connections_open", "Open connections in the pool."),
		inUse:         d("db_connections_in_use", "Connections in use."),
		idle:          d("db_connections_idle", "Idle connections."),
		waitCount:     d("db_connection_waits_total", "Times a request waited for a free connection."),
		waitSeconds:   d("db_connection_wait_seconds_total", "Time spent waiting for a free connection."),
		outboxPending: d("outbox_pending", "Mail waiting to be sent."),
		outboxDead:    d("outbox_dead", "Mail that failed every attempt and needs a retry by staff."),
		outboxOldest:  d("outbox_oldest_pending_age_seconds", "Age of the oldest mail waiting to be sent."),
		tokenEvents:   d("token_events_total", "SCIM token events from the audit trail, by action.", "action"),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.waitCount, c.waitSeconds, c.outboxPending, c.outboxDead, c.outboxOldest, c.tokenEvents} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.OpenConnections))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.InUse))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.Idle))
	ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.WaitDuration.Seconds())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if stats, err := mail.Stats(ctx, c.db); err == nil {
		ch <- prometheus.MustNewConstMetric(c.outboxPending, prometheus.GaugeValue, float64(stats.Pending))
		ch <- prometheus.MustNewConstMetric(c.outboxDead, prometheus.GaugeValue, float64(stats.Dead))
		ch <- prometheus.MustNewConstMetric(c.outboxOldest, prometheus.GaugeValue, stats.OldestPending.Seconds())
	} else {
		c.log.Warn("collect_outbox_metrics", "error", err)
	}
	c.collectTokenEvents(ctx, ch)
}

func (c *dbCollector) collectTokenEvents(ctx context.Context, ch chan<- prometheus.Metric) {
	var rows []struct {
		Action string `db:"action"`
		Count  int64  `db:"count"`
	}
	err := c.db.SelectContext(ctx, &rows, `
		SELECT action, count(*) AS count FROM audit_log WHERE action LIKE 'token.%' GROUP BY action`)
	if err != nil {
		c.log.Warn("collect_token_metrics", "error", err)
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(c.tokenEvents, prometheus.CounterValue, float64(r.Count), r.Action)
	}
}
