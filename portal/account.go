package portal

import (
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// uuidPattern matches the text form of a UUID, so a malformed ID from a
// form is "not found" instead of a database error.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// meResponse is the JSON of /me.
type meResponse struct {
	Tenant       string  `json:"tenant"`
	UserName     string  `json:"userName"`
	Email        string  `json:"email"`
	DropLocation *string `json:"dropLocation"`
}

// me returns the signed-in tenant user as JSON, or 401 JSON when signed out.
func (s *Server) me(c *gin.Context) {
	noStore(c)
	u, err := s.currentUser(c)
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "request_failed", "error", err, "route", c.FullPath())
		c.JSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
		return
	}
	if u == nil {
		c.JSON(http.StatusUnauthorized, gin.H{"error": "not signed in"})
		return
	}
	out := meResponse{Tenant: u.Tenant.Slug, UserName: u.User.UserName, Email: u.User.Email}
	if name, err := s.dropLocationName(c, u); err != nil {
		s.log.ErrorContext(c.Request.Context(), "request_failed", "error", err, "route", c.FullPath())
		c.JSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
		return
	} else if name != "" {
		out.DropLocation = &name
	}
	c.JSON(http.StatusOK, out)
}

// dropLocationName returns the name of the user's drop location, or "".
func (s *Server) dropLocationName(c *gin.Context, u *userSession) (string, error) {
	if u.User.DropLocationID == nil {
		return "", nil
	}
	d, err := s.tenants.DropLocationByID(c.Request.Context(), u.Tenant.ID, *u.User.DropLocationID)
	if database.IsNotFound(err) {
		return "", nil
	}
	return d.Name, err
}

// accountPage is the data of account_home.html.
type accountPage struct {
	User         tenants.User
	Tenant       tenants.Tenant
	DropLocation string
}

// accountHome shows the signed-in user who they are and their drop
// location. A user without one picks it first.
func (s *Server) accountHome(c *gin.Context) error {
	u := signedInUser(c)
	noStore(c)
	landing, err := s.landingPath(c.Request.Context(), u.User, "")
	if err != nil {
		return err
	}
	if landing != "/account" {
		return redirect(c, landing)
	}
	name, err := s.dropLocationName(c, u)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "account_home.html", "Your account", accountPage{User: u.User, Tenant: u.Tenant, DropLocation: name})
}

// dropLocationPage is the data of account_drop_location.html.
type dropLocationPage struct {
	Tenant    tenants.Tenant
	Locations []tenants.DropLocation
	Current   string
	Next      string
	Error     string
	FirstTime bool
}

func (s *Server) dropLocationForm(c *gin.Context) error {
	return s.renderDropLocations(c, http.StatusOK, localPath(c.Query("next")), "")
}

func (s *Server) renderDropLocations(c *gin.Context, status int, next, problem string) error {
	u := signedInUser(c)
	noStore(c)
	locations, err := s.tenants.DropLocations(c.Request.Context(), u.Tenant.ID)
	if err != nil {
		return err
	}
	page := dropLocationPage{Tenant: u.Tenant, Locations: locations, Next: next, Error: problem, FirstTime: u.User.DropLocationID == nil}
	if u.User.DropLocationID != nil {
		page.Current = *u.User.DropLocationID
	}
	return s.render(c, status, "account_drop_location.html", "Choose your drop location", page)
}

// setDropLocation records the drop location the user picked from their
// tenant's list.
func (s *Server) setDropLocation(c *gin.Context) error {
	u := signedInUser(c)
	next := localPath(c.PostForm("next"))
	id := c.PostForm("drop_location")
	if !uuidPattern.MatchString(id) {
		return s.renderDropLocations(c, http.StatusBadRequest, next, "Choose one of the drop locations.")
	}
	err := s.tenants.SetUserDropLocation(c.Request.Context(), u.Tenant.ID, u.User.ID, id)
	if database.IsNotFound(err) {
		return s.renderDropLocations(c, http.StatusBadRequest, next, "That drop location is no longer available. Choose another one.")
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(c.Request.Context(), "drop_location_set", "tenant", u.Tenant.Slug, "user_id", u.User.ID)
	if next == "" {
		next = "/account"
	}
	return redirect(c, next)
}
