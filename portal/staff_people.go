package portal

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
)

// peopleView is the staff accounts page's data.
type peopleView struct {
	People []forms.Staff
	Me     string
	Notice string
	Form   struct{ Email, Name, Role string }
}

func (h *staffHandlers) people(c *gin.Context) error {
	view, err := h.peopleView(c)
	if err != nil {
		return err
	}
	view.Notice = map[string]string{
		"added":    "The account is ready. We emailed a link to set a password, valid for 24 hours.",
		"role":     "Role changed.",
		"disabled": "Account disabled. Its sessions have ended.",
		"enabled":  "Account enabled.",
	}[c.Query("done")]
	return h.s.render(c, http.StatusOK, "staff_people.html", "People", view)
}

func (h *staffHandlers) peopleView(c *gin.Context) (peopleView, error) {
	list, err := h.staff.List(c.Request.Context())
	if err != nil {
		return peopleView{}, err
	}
	view := peopleView{People: list, Me: currentStaff(c).ID}
	view.Form.Role = forms.RoleReviewer
	return view, nil
}

// addPerson creates an account, or sends a new link to an existing one,
// and emails the set-password link.
func (h *staffHandlers) addPerson(c *gin.Context) error {
	email, name, role := c.PostForm("email"), c.PostForm("name"), c.PostForm("role")
	err := database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		staff, link, err := forms.InviteStaff(c.Request.Context(), tx, actorOf(c), email, name, role)
		if err != nil {
			return err
		}
		return h.mailPasswordLink(c, tx, staff, link)
	})
	if err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/people?done=added")
}

func (h *staffHandlers) setRole(c *gin.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := h.staff.SetRole(c.Request.Context(), actorOf(c), id, c.PostForm("role")); err != nil {
		return staffError(err)
	}
	return redirect(c, "/staff/people?done=role")
}

func (h *staffHandlers) disablePerson(c *gin.Context) error {
	return h.setDisabled(c, true)
}

func (h *staffHandlers) enablePerson(c *gin.Context) error {
	return h.setDisabled(c, false)
}

func (h *staffHandlers) setDisabled(c *gin.Context, disabled bool) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := h.staff.SetDisabled(c.Request.Context(), actorOf(c), id, disabled); err != nil {
		return staffError(err)
	}
	if disabled {
		return redirect(c, "/staff/people?done=disabled")
	}
	return redirect(c, "/staff/people?done=enabled")
}
