// Package portal serves gatehouse's HTML: the setup portal for customers'
// IT contacts, the staff queue, and sign-in for tenants' users. Handlers
// return errors; one adapter (handle) turns them into a status and a page.
package portal

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
	"github.com/gatehouse-dev/gatehouse/web/static"
)

// Config is what the portal needs from the program.
type Config struct {
	DB      *sqlx.DB
	BaseURL *url.URL // public URL used in links and SAML, without a trailing slash
	Keyring *secrets.Keyring
	Logger  *slog.Logger
	// DevMail is set when no SMTP server is configured: mail stays in the
	// outbox and staff read it at /staff/outbox.
	DevMail bool
	Now     func() time.Time // nil: time.Now
}

// Server holds the portal's dependencies and parsed templates.
type Server struct {
	cfg     Config
	db      *sqlx.DB
	tenants *tenants.Store
	log     *slog.Logger
	pages   map[string]*template.Template
}

// New parses every template, so a broken one stops the start instead of a
// request.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil || cfg.BaseURL == nil || cfg.Keyring == nil {
		return nil, errors.New("portal: DB, BaseURL and Keyring are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, db: cfg.DB, tenants: tenants.NewStore(cfg.DB), log: cfg.Logger, pages: pages}, nil
}

// Register adds every portal route to r.
func (s *Server) Register(r *gin.Engine) {
	r.StaticFS("/static", http.FS(static.FS))
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/setup") })
	s.registerSetup(r)
	s.registerStaff(r)
	s.registerSignIn(r)
	r.NoRoute(s.handle(func(c *gin.Context) error { return errNotFound }))
}

// link returns an absolute URL for path on the public base URL.
func (s *Server) link(path string) string {
	return s.cfg.BaseURL.String() + path
}

func (s *Server) now() time.Time { return s.cfg.Now() }
