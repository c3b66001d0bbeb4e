package portal

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// signInOutcomes counts tenant users' sign-in attempts by method ("saml"
// or "password") and outcome: "success", or the reason for the refusal
// (a SAML failure code such as "bad_signature", "unknown_user",
// "user_deactivated").
var signInOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "gatehouse_signin_total",
	Help: "Tenant user sign-ins by method (saml, password) and outcome (success or the reason for refusal).",
}, []string{"method", "outcome"})

func countSignIn(method, outcome string) {
	signInOutcomes.WithLabelValues(method, outcome).Inc()
}
