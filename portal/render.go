package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

// page is what every template receives: the layout reads the fields it
// needs and the page its own Data.
type page struct {
	Title string
	Staff *StaffSession // the signed-in staff member, if any
	User  *userSession  // the signed-in tenant user, on account pages
	Data  any
	Dev   bool // mail stays in the outbox (development)
}

var templateFuncs = template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("Jan 2, 2006") },
	"datetime": func(t time.Time) string {
		return t.UTC().Format("Jan 2, 2006 15:04 MST")
	},
	"lower":      strings.ToLower,
	"join":       strings.Join,
	"auditLabel": auditEventLabel,
}

// parsePages parses layout.html with each other template into its own set,
// so pages can define the same block names.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error becomes
// a clean error page instead of half a page.
func (s *Server) render(c *gin.Context, status int, name, title string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("render: no template %s", name)
	}
	p := page{Title: title, Data: data, Dev: s.cfg.DevMail}
	if staff, ok := c.Get(staffKey); ok {
		p.Staff = staff.(*StaffSession)
	}
	p.User = signedInUser(c)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	_, err := c.Writer.Write(buf.Bytes())
	return err
}

// noStore marks a response as one that browsers and proxies must not keep,
// for pages that show secrets or personal data.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

func redirect(c *gin.Context, to string) error {
	c.Redirect(http.StatusSeeOther, to)
	return nil
}
