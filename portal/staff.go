package portal

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// staffHandlers serves everything under /staff: sign-in and passwords, the
// queue and request pages, tenants, staff accounts, the outbox and the
// audit trail. Pages past sign-in need a staff session; /staff/people
// needs the admin role.
type staffHandlers struct {
	s        *Server
	requests *forms.Store
	staff    *forms.StaffStore
	flow     *forms.Workflow
	resets   *resetLimits
}

// registerStaff adds the staff pages under /staff and the token reveal page.
func (s *Server) registerStaff(r *gin.Engine) {
	h := &staffHandlers{
		s:        s,
		requests: forms.NewStore(s.db),
		staff:    forms.NewStaffStore(s.db),
		flow:     s.workflow(),
		resets:   newResetLimits(),
	}

	public := r.Group("/staff", noStore)
	public.GET("/signin", s.handle(h.showSignIn))
	public.POST("/signin", s.handle(h.signIn))
	public.GET("/reset", s.handle(h.showReset))
	public.POST("/reset", s.handle(h.reset))
	public.GET("/password/:secret", privateLink, s.handle(h.showPassword))
	public.POST("/password/:secret", privateLink, s.handle(h.setPassword))

	staff := r.Group("/staff", noStore, s.requireStaff)
	staff.POST("/signout", s.handle(h.signOut))
	staff.GET("/account", s.handle(h.account))
	staff.POST("/account/signout-all", s.handle(h.signOutEverywhere))
	h.registerQueue(staff)
	h.registerTenants(staff)
	h.registerOutbox(staff)
	h.registerAudit(staff)

	admin := staff.Group("/people", s.requireAdmin)
	admin.GET("", s.handle(h.people))
	admin.POST("", s.handle(h.addPerson))
	admin.POST("/:id/role", s.handle(h.setRole))
	admin.POST("/:id/disable", s.handle(h.disablePerson))
	admin.POST("/:id/enable", s.handle(h.enablePerson))

	s.registerReveal(r, h.flow)
	s.registerContactToken(r, h.flow)
}

// workflow returns the approval workflow on the server's configuration.
func (s *Server) workflow() *forms.Workflow {
	return forms.NewWorkflow(forms.WorkflowConfig{
		DB: s.db, Keyring: s.cfg.Keyring, BaseURL: s.cfg.BaseURL.String(), Now: s.cfg.Now,
	})
}

// requireAdmin lets only admins through, and shows everyone else a 403
// page; requireStaff runs before it.
func (s *Server) requireAdmin(c *gin.Context) {
	if staff := currentStaff(c); staff == nil || !staff.IsAdmin() {
		s.handle(func(*gin.Context) error { return errForbidden })(c)
		c.Abort()
		return
	}
	c.Next()
}

// actor names the signed-in staff member, or the anonymous client, for
// the audit trail.
func actorOf(c *gin.Context) forms.Actor {
	a := forms.Actor{Name: "anonymous", ClientIP: c.ClientIP(), RequestID: c.Writer.Header().Get("X-Request-ID")}
	if staff := currentStaff(c); staff != nil {
		a.Name, a.StaffID = staff.Actor(), staff.ID
	}
	return a
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// idParam returns a path parameter that must be a UUID; anything else is
// a page that does not exist.
func idParam(c *gin.Context, name string) (string, error) {
	id := c.Param(name)
	if !idPattern.MatchString(id) {
		return "", errNotFound
	}
	return id, nil
}

// versionField reads the hidden version field of an optimistically locked form.
func versionField(c *gin.Context) (int, error) {
	v, err := strconv.Atoi(c.PostForm("version"))
	if err != nil || v < 1 {
		return 0, userError(http.StatusBadRequest, "The form is missing its version. Reload the page and try again.", err)
	}
	return v, nil
}

// staffError turns the domain's errors into messages for staff. Errors it
// does not know pass through to the generic adapter.
func staffError(err error) error {
	var input *forms.InputError
	var taken *forms.SlugTakenError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &input):
		return userError(http.StatusUnprocessableEntity, input.Message, err)
	case errors.As(err, &taken):
		return userError(http.StatusConflict, "The tenant slug "+taken.Slug+" is taken. Choose another, such as "+taken.Suggestion+".", err)
	case errors.Is(err, database.ErrConflict):
		return userError(http.StatusConflict, "Someone else changed this while you were looking at it. Reload the page to see their change, then try again.", err)
	case errors.Is(err, forms.ErrInvalidTransition):
		return userError(http.StatusConflict, "That action is not possible in the request's current state. Reload the page to see where it is.", err)
	}
	for _, known := range []struct {
		err     error
		status  int
		message string
	}{
		{forms.ErrMeetingRequired, http.StatusConflict, "Record the configuration meeting (date and note) before approving a Marketplace request."},
		{forms.ErrNoteRequired, http.StatusUnprocessableEntity, "Write a note that tells the contact why, then try again."},
		{forms.ErrSelfChange, http.StatusConflict, "You cannot change your own role or disable your own account. Ask another admin."},
		{forms.ErrLastAdmin, http.StatusConflict, "At least one active admin must remain. Make someone else an admin first."},
		{forms.ErrNoContact, http.StatusConflict, "This tenant has no IT contact email. Add the contact first, so the token can be delivered."},
		{forms.ErrSCIMOff, http.StatusConflict, "SCIM is off for this tenant. Turn it on in the settings first."},
		{tenants.ErrNothingToResend, http.StatusConflict, "There is no unrevealed delivery to re-send. Rotate the token to deliver a new one."},
		{tenants.ErrInvalidDropLocation, http.StatusUnprocessableEntity, "Enter a drop location name of 1 to 200 characters."},
	} {
		if errors.Is(err, known.err) {
			return userError(known.status, known.message, err)
		}
	}
	return err
}
