// Package forms is the setup-request domain: what an IT contact submits,
// how IdP metadata is validated, the states a request moves through and the
// approval that turns it into an active tenant. It knows nothing of HTTP.
package forms
