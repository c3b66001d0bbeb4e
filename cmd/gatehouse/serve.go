package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/portal"
	"github.com/gatehouse-dev/gatehouse/scim"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM or SIGINT.
const shutdownTimeout = 20 * time.Second

func runServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve", "", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(os.Getenv, needDatabase|needServer)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on GATEHOUSE_ADDR %s: %w", cfg.Addr, err)
	}
	return serve(ctx, cfg, ln, log)
}

// newLogger returns JSON logs in production and text in development, with
// the request ID added from the context.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	var h slog.Handler
	if cfg.development() {
		h = slog.NewTextHandler(w, nil)
	} else {
		h = slog.NewJSONHandler(w, nil)
	}
	return slog.New(contextHandler{h})
}

// serve runs gatehouse on ln until ctx is done, then shuts down in order:
// stop accepting, finish in-flight requests, stop background work after
// its current item, flush SCIM's batched writes, close the pool.
func serve(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) error {
	log.Info("starting", "config", cfg)
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer db.Close()

	app, err := newApp(cfg, db, log)
	if err != nil {
		ln.Close()
		return err
	}

	app.checkSPKey(ctx)

	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	app.startJobs(jobsCtx, &jobs)

	srv := &http.Server{
		Handler:           app.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String())

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting_down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
	}
	stopJobs()
	jobs.Wait()
	if closeErr := app.scim.Close(context.Background()); closeErr != nil {
		log.Error("flush_scim_writes", "error", closeErr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// app is the wired program: its HTTP handler and background jobs.
type app struct {
	cfg      config
	db       *sqlx.DB
	log      *slog.Logger
	scim     *scim.Server
	portal   *portal.Server
	handler  http.Handler
	sendMail mail.SendFunc // nil in development without SMTP
	metrics  *prometheus.Registry
}

func newApp(cfg config, db *sqlx.DB, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, db: db, log: log}
	if cfg.SMTPURL != "" {
		sender, err := mail.NewSMTPSender(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, err
		}
		a.sendMail = sender.Send
	}

	portalSrv, err := portal.New(portal.Config{
		DB: db, BaseURL: cfg.BaseURL, Keyring: cfg.Keyring, Logger: log, DevMail: a.sendMail == nil,
	})
	if err != nil {
		return nil, err
	}
	a.portal = portalSrv
	a.scim, err = scim.New(scim.Config{DB: db, BaseURL: cfg.BaseURL.String(), Logger: log})
	if err != nil {
		return nil, err
	}
	// The pool and outbox collector goes into a registry of this app's own,
	// so that each app in one process (as in tests) reports its own
	// database. The HTTP metrics are process-wide.
	a.metrics = prometheus.NewRegistry()
	if err := a.metrics.Register(newDBCollector(db, log)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	a.handler = a.routes(portalSrv)
	return a, nil
}

// routes builds the HTTP handler. Cross-origin form posts are rejected
// everywhere except where a third party posts by design: the SAML ACS
// (the IdP's browser POST) and SCIM (server-to-server, bearer token).
func (a *app) routes(portalSrv *portal.Server) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /saml/{tenant}/acs")
	cop.AddInsecureBypassPattern("/scim/v2/")

	r := gin.New()
	r.ContextWithFallback = true
	// gin trusts X-Forwarded-For from every peer by default.
	// loadConfig checked the list; should gin still reject it, no proxy
	// is trusted.
	// gin also reads X-Real-IP by default. The load balancers documented
	// in docs/deployment.md set X-Forwarded-For, so only that one counts.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		a.log.Error("set_trusted_proxies_failed", "error", err)
		r.SetTrustedProxies(nil)
	}
	r.Use(requestID(), recovery(a.log), accessLog(a.log), securityHeaders(a.cfg.BaseURL.Scheme == "https"), crossOrigin(cop))

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", a.readyz)
	gatherers := prometheus.Gatherers{prometheus.DefaultGatherer, a.metrics}
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)})))
	scimHandler := a.scim.Handler()
	r.Any("/scim/v2/*path", func(c *gin.Context) {
		// SCIM limits failed authentications per client, whose address
		// gin takes from X-Forwarded-For only behind a trusted proxy.
		ctx := scim.WithClientAddr(c.Request.Context(), c.ClientIP())
		scimHandler.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	})
	portalSrv.Register(r)
	return r
}

// readyz returns 200 when the database responds within two seconds and
// has every migration applied, and 503 otherwise.
func (a *app) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.PingContext(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": "database unreachable"})
		return
	}
	pending, err := database.Pending(ctx, a.db.DB)
	if err != nil || pending {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": "migrations pending"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// checkSPKey logs an error when the SAML service provider key cannot be
// opened. gatehouse still starts, since SCIM and the setup portal work
// without it, but SAML sign-in and SP metadata fail until it is fixed.
func (a *app) checkSPKey(ctx context.Context) {
	err := a.portal.CheckSPKey(ctx)
	switch {
	case errors.Is(err, secrets.ErrUnknownKey):
		a.log.Error("saml_sp_key_unusable", "error", err,
			"fix", "add the master key that sealed it to GATEHOUSE_OLD_MASTER_KEYS and run gatehouse keys rotate; if that key is lost, run gatehouse keys reset-sp")
	case err != nil:
		a.log.Warn("saml_sp_key_check_failed", "error", err)
	}
}

// startJobs runs the background work that every instance shares. Each job
// claims its rows with FOR UPDATE SKIP LOCKED or a single statement, so
// several instances never do the same item twice.
func (a *app) startJobs(ctx context.Context, wg *sync.WaitGroup) {
	if a.sendMail != nil {
		worker := mail.NewWorker(a.db, a.sendMail, a.log)
		wg.Go(func() { worker.Run(ctx) })
	}
	expiry := &forms.CertificateExpiryJob{DB: a.db, Logger: a.log}
	wg.Go(func() { expiry.Run(ctx) })
	store := tenants.NewStore(a.db)
	wg.Go(func() {
		every(ctx, time.Minute, func() {
			n, err := store.EraseExpiredDeliveries(ctx)
			if err != nil && ctx.Err() == nil {
				a.log.Error("erase_expired_deliveries", "error", err)
			}
			if n > 0 {
				a.log.Info("expired_deliveries_erased", "count", n)
			}
		})
	})
	requests := forms.NewStore(a.db)
	wg.Go(func() {
		every(ctx, time.Hour, func() { a.prune(ctx, store, requests) })
	})
}

// prune deletes the rows that only record the past once they are old
// enough: SCIM request log entries after tenants.SCIMLogRetention, expired
// sessions and password links, and status links
// forms.ExpiredLinkRetention after they expired. Running on several
// instances at once does no harm: each row is deleted once.
func (a *app) prune(ctx context.Context, store *tenants.Store, requests *forms.Store) {
	now := time.Now()
	jobs := []struct {
		name string
		run  func() (int64, error)
	}{
		{"scim_request_log", func() (int64, error) { return store.PruneSCIMRequests(ctx, now.Add(-tenants.SCIMLogRetention)) }},
		{"sessions_and_password_links", func() (int64, error) { return store.DeleteExpiredSessions(ctx, now) }},
		{"status_links", func() (int64, error) { return requests.DeleteOldStatusLinks(ctx, now.Add(-forms.ExpiredLinkRetention)) }},
	}
	for _, job := range jobs {
		n, err := job.run()
		if err != nil && ctx.Err() == nil {
			a.log.Error("prune_failed", "table", job.name, "error", err)
		}
		if n > 0 {
			a.log.Info("pruned", "table", job.name, "count", n)
		}
	}
}

// every calls fn now and then at each interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
