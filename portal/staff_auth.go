package portal

import (
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// StaffSession is the signed-in staff member, as pages see them.
type StaffSession struct {
	ID    string `db:"id"`
	Email string `db:"email"`
	Name  string `db:"name"`
	Role  string `db:"role"` // "reviewer" or "admin"
}

// IsAdmin reports whether the staff member may manage staff accounts.
func (s *StaffSession) IsAdmin() bool { return s.Role == "admin" }

// Actor names the staff member in audit rows and request history.
func (s *StaffSession) Actor() string { return "staff:" + s.Email }

// requireStaff lets the request through only with a staff session, and
// sends everyone else to the staff sign-in page.
func (s *Server) requireStaff(c *gin.Context) {
	staff, err := s.loadStaff(c)
	if err != nil {
		s.handle(func(*gin.Context) error { return err })(c)
		c.Abort()
		return
	}
	if staff == nil {
		c.Redirect(303, "/staff/signin")
		c.Abort()
		return
	}
	c.Set(staffKey, staff)
	c.Next()
}

func (s *Server) loadStaff(c *gin.Context) (*StaffSession, error) {
	sess, err := s.currentSession(c)
	if err != nil || sess == nil || sess.StaffID == nil {
		return nil, err
	}
	var staff StaffSession
	err = sqlx.GetContext(c.Request.Context(), s.db, &staff, `
		SELECT id, email, name, role FROM staff WHERE id = $1 AND disabled_at IS NULL`, *sess.StaffID)
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("load staff: %w", err)
	}
	return &staff, nil
}

// currentStaff returns the staff member that requireStaff stored.
func currentStaff(c *gin.Context) *StaffSession {
	v, _ := c.Get(staffKey)
	staff, _ := v.(*StaffSession)
	return staff
}
