package portal

import "github.com/gin-gonic/gin"

// registerSetup adds the IT contacts' setup portal under /setup.
func (s *Server) registerSetup(r *gin.Engine) {}
