package portal

import "github.com/gin-gonic/gin"

// registerSignIn adds tenant users' sign-in: the SAML service provider
// (/saml, /sso), password sign-in (/login), the account pages and /me, and
// the setup portal's connection test, which runs through the same ACS.
func (s *Server) registerSignIn(r *gin.Engine) {
	r.GET("/saml/:tenant/metadata", s.handle(s.spMetadata))
	r.POST("/saml/:tenant/acs", s.handle(s.acs))
	r.GET("/sso/:tenant", s.handle(s.ssoStart))

	r.GET("/login", s.handle(s.loginForm))
	r.POST("/login", s.handle(s.login))
	r.POST("/logout", s.handle(s.logout))
	r.GET("/me", s.me)

	account := r.Group("/account")
	account.GET("/setup/:secret", s.handle(s.accountSetupForm))
	account.POST("/setup/:secret", s.handle(s.accountSetup))
	account.GET("", s.requireUser, s.handle(s.accountHome))
	account.GET("/drop-location", s.requireUser, s.handle(s.dropLocationForm))
	account.POST("/drop-location", s.requireUser, s.handle(s.setDropLocation))

	r.POST("/setup/status/:secret/test", s.handle(s.testConnection))
}
