package portal

import "github.com/gin-gonic/gin"

// registerStaff adds the staff queue under /staff.
func (s *Server) registerStaff(r *gin.Engine) {}
