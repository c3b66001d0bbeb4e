package forms

import (
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// SAML 2.0 limits an entityID to 1024 characters; URLs get a similar bound.
const (
	maxEntityIDLength = 1024
	maxURLLength      = 2048
)

// maxRoleChildren bounds the SingleSignOnService and KeyDescriptor elements
// read from one IdP role, so that a crafted document cannot make the report
// list thousands of problems. Real IdPs publish fewer than ten of each.
// NOTE: 50 is a judgment call, not a number from a standard or a vendor.
const maxRoleChildren = 50

// expiryWarningWindow is how long before a certificate or the metadata
// expires that gatehouse starts warning.
const expiryWarningWindow = 30 * 24 * time.Hour

// placeholderEntityIDs maps entity IDs that IdP consoles fill in by default to
// the product that uses them.
var placeholderEntityIDs = map[string]string{
	"IdP Entity ID": "JumpCloud",
}

// describeEntity builds the Metadata of the chosen IdP entity and checks
// everything gatehouse relies on: entity ID, validity, SSO endpoints and
// signing certificates.
func describeEntity(e candidateEntity, now time.Time, problems *problemList) *Metadata {
	role := chooseRole(e, problems)
	checkEntityID(e.EntityID, fieldMetadata, problems)
	if !checkRoleSize(role, problems) {
		return &Metadata{EntityID: e.EntityID, Signed: e.signed}
	}

	return &Metadata{
		EntityID:      e.EntityID,
		SSOEndpoints:  collectSSOEndpoints(role, problems),
		SigningCerts:  collectSigningCerts(role, now, problems),
		NameIDFormats: nameIDFormats(role),
		ValidUntil:    checkValidUntil(e.validUntil, now, problems),
		Signed:        e.signed,
	}
}

// chooseRole returns the entity's first IDPSSODescriptor that supports SAML
// 2.0, or reports an error and returns the first one.
func chooseRole(e candidateEntity, problems *problemList) idpRoleXML {
	for _, r := range e.IDPRoles {
		if r.supportsSAML2() {
			return r
		}
	}

	problems.errorf(fieldMetadata, "The IdP supports only %s, not SAML 2.0 (its IDPSSODescriptor lacks %s "+
		"in protocolSupportEnumeration). Gatehouse needs SAML 2.0: enable it for the app in your IdP "+
		"and download the metadata again.", strings.Join(e.IDPRoles[0].Protocols, ", "), nsProtocol)
	return e.IDPRoles[0]
}

// checkRoleSize reports a role with more than maxRoleChildren SSO services
// or keys.
func checkRoleSize(role idpRoleXML, problems *problemList) bool {
	sso, keys := len(role.SingleSignOnServices), len(role.KeyDescriptors)
	if sso <= maxRoleChildren && keys <= maxRoleChildren {
		return true
	}
	problems.errorf(fieldMetadata, "The IdP lists %d SingleSignOnService and %d KeyDescriptor elements, "+
		"more than the %d of each gatehouse reads. Download the metadata of your IdP's SAML app again.",
		sso, keys, maxRoleChildren)
	return false
}

// checkEntityID checks an IdP entity ID, from metadata or typed by hand.
func checkEntityID(id, field string, problems *problemList) {
	if strings.TrimSpace(id) == "" {
		if field == fieldMetadata {
			problems.errorf(field, "The metadata has no entity ID: its EntityDescriptor lacks the entityID attribute. "+
				"Download the metadata from your IdP again; if it is still missing, enter the entity ID, "+
				"SSO URL and certificate by hand.")
		} else {
			problems.errorf(field, "Enter your IdP's entity ID (also called Issuer or IdP identifier), "+
				"for example https://idp.example.com/saml.")
		}
		return
	}

	if len(id) > maxEntityIDLength {
		problems.errorf(field, "The entity ID is %d characters long, but SAML allows at most %d. "+
			"Check that the right value was used.", len(id), maxEntityIDLength)
		return
	}

	if vendor, ok := placeholderEntityIDs[strings.TrimSpace(id)]; ok {
		problems.warnf(field, "The entity ID %q is %s's default placeholder, not a URI. "+
			"Set a unique IdP entity ID in the SAML app in %s (such as https://sso.example.com/saml), "+
			"then download the metadata again.", id, vendor, vendor)
		return
	}
	if !isURI(id) {
		problems.warnf(field, "The entity ID %q is not a URI. Entity IDs are usually URLs or URNs, "+
			"such as https://idp.example.com/saml; check that this is the exact Issuer your IdP sends.", id)
	}
}

// isURI reports whether s is an absolute URI without spaces or control
// characters, such as an https URL or a URN.
func isURI(s string) bool {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Opaque != "" || u.Host != "" || u.Path != "")
}

// checkValidUntil parses the validUntil values that apply to the entity and
// returns the earliest, reporting a past or close date.
func checkValidUntil(values []string, now time.Time, problems *problemList) *time.Time {
	var earliest *time.Time
	for _, v := range values {
		t, ok := parseDateTime(v)
		if !ok {
			problems.errorf(fieldMetadata, "The metadata's validUntil value %q is not a valid date and time. "+
				"Download the metadata from your IdP again.", v)
			continue
		}
		if earliest == nil || t.Before(*earliest) {
			earliest = &t
		}
	}
	if earliest == nil {
		return nil
	}

	switch {
	case now.After(*earliest):
		problems.errorf(fieldMetadata, "The metadata expired on %s (its validUntil date), so it must not be used any more. %s",
			formatDate(*earliest), sendMetadataAgain)
	case earliest.Sub(now) < expiryWarningWindow:
		problems.warnf(fieldMetadata, "The metadata is valid only until %s (its validUntil date). "+
			"Send us fresh metadata from your IdP before then.", formatDate(*earliest))
	}
	return earliest
}

// parseDateTime parses an xs:dateTime. A value without a time zone is read as
// UTC, which SAML requires for its times.
func parseDateTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// collectSSOEndpoints returns the role's usable SSO endpoints and reports a
// role that offers none.
func collectSSOEndpoints(role idpRoleXML, problems *problemList) []Endpoint {
	var endpoints []Endpoint
	var others []string
	sawUsable := false
	usable := map[string]bool{} // result of checkSSOLocation by location, so each is reported once

	for _, s := range role.SingleSignOnServices {
		binding := Binding(strings.TrimSpace(s.Binding))
		if binding != BindingRedirect && binding != BindingPOST {
			others = appendUnique(others, binding.ShortName())
			continue
		}

		sawUsable = true
		e := Endpoint{Binding: binding, Location: strings.TrimSpace(s.Location)}
		ok, checked := usable[e.Location]
		if !checked {
			ok = checkSSOLocation(e.Location, "The SSO URL", fieldMetadata, problems)
			usable[e.Location] = ok
		}
		if ok && !containsEndpoint(endpoints, e) {
			endpoints = append(endpoints, e)
		}
	}

	switch {
	case sawUsable:
	case len(others) > 0:
		problems.errorf(fieldMetadata, "The IdP offers single sign-on only over %s, which gatehouse cannot use. "+
			"Enable the HTTP-Redirect or HTTP-POST binding for the SAML app in your IdP, "+
			"then download the metadata again.", strings.Join(others, " and "))
	default:
		problems.errorf(fieldMetadata, "The metadata has no SingleSignOnService, so gatehouse does not know where "+
			"to send users to sign in. Copy or download the complete metadata, not a part of it. "+sendMetadataAgain)
	}
	return endpoints
}

// checkSSOLocation checks an SSO URL and returns whether it can be used.
// subject names the value in messages, such as "The HTTP-POST SSO URL".
func checkSSOLocation(location, subject, field string, problems *problemList) bool {
	if location == "" {
		problems.errorf(field, "%s is empty. Gatehouse needs the address of your IdP's SAML sign-in service.", subject)
		return false
	}
	if len(location) > maxURLLength {
		problems.errorf(field, "%s is %d characters long, longer than the %d gatehouse accepts.",
			subject, len(location), maxURLLength)
		return false
	}

	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		problems.errorf(field, "%s %q is not an absolute https URL. Use the full address of your IdP's "+
			"SAML sign-in service, such as https://idp.example.com/sso/saml.", subject, location)
		return false
	}
	if u.User != nil {
		problems.errorf(field, "%s %q contains a user name or password. Remove it: users sign in at the IdP itself.",
			subject, location)
		return false
	}

	if u.Scheme == "http" {
		problems.warnf(field, "%s %q uses http, not https, so sign-in traffic is not encrypted. "+
			"Use your IdP's https address if it has one.", subject, location)
	}
	if isInternalHost(u.Hostname()) {
		problems.warnf(field, "%s %q points to %s, which users' browsers can reach only on that computer "+
			"or inside your network. If this is a test IdP, send us the metadata of your production IdP.",
			subject, location, u.Hostname())
	}
	return true
}

// isInternalHost reports whether host is localhost or an IP address that is
// not publicly routable.
func isInternalHost(host string) bool {
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsUnspecified()
}

func containsEndpoint(list []Endpoint, e Endpoint) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// nameIDFormats returns the role's NameID formats, trimmed, without empty
// values or repeats.
func nameIDFormats(role idpRoleXML) []string {
	var out []string
	for _, f := range role.NameIDFormats {
		if v := strings.TrimSpace(f.Value); v != "" {
			out = appendUnique(out, v)
		}
	}
	return out
}

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func formatDate(t time.Time) string {
	return t.UTC().Format(time.DateOnly)
}
