package forms

import (
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Size limits of the setup form's fields, in bytes of UTF-8. The metadata
// document has its own limit, MaxMetadataBytes.
const (
	maxNameLength    = 200
	maxEmailLength   = 254 // the longest address that fits RFC 5321's 256-octet path with its angle brackets
	maxPhoneLength   = 40
	maxNotesLength   = 4000
	maxDomainsLength = 4000
	maxDomains       = 20
	maxDomainLength  = 253
)

// publicMailDomains are mailbox providers that no company owns, so they
// cannot stand for a company's users.
var publicMailDomains = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true,
	"live.com": true, "msn.com": true, "yahoo.com": true, "icloud.com": true, "me.com": true,
	"aol.com": true, "proton.me": true, "protonmail.com": true, "gmx.com": true, "mail.com": true,
}

// checkText trims a free-text field and checks its length and characters.
// Line breaks and tabs are allowed only in notes.
func checkText(value, field, what string, limit int, required bool, problems *problemList) string {
	value = strings.TrimSpace(value)
	switch {
	case value == "" && required:
		problems.errorf(field, "Enter %s.", what)
	case len(value) > limit:
		problems.errorf(field, "Shorten %s to at most %d characters; it has %d.", what, limit, utf8.RuneCountInString(value))
	case !utf8.ValidString(value):
		problems.errorf(field, "Retype %s: it contains bytes that are not valid UTF-8 text.", what)
	case hasControl(value, field == FieldNotes):
		problems.errorf(field, "Remove the control characters from %s.", what)
	default:
		return value
	}
	return ""
}

func hasControl(s string, allowLines bool) bool {
	for _, r := range s {
		if allowLines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// checkDomains splits the domains field and returns each name in lowercase
// ASCII form (internationalized names as their xn-- labels).
func checkDomains(value string, problems *problemList) []string {
	if len(value) > maxDomainsLength {
		problems.errorf(FieldEmailDomains, "List at most %d email domains, separated by commas.", maxDomains)
		return nil
	}
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		problems.errorf(FieldEmailDomains, "Enter the email domain your users' addresses end in, such as example.com.")
		return nil
	}
	if len(fields) > maxDomains {
		problems.errorf(FieldEmailDomains, "List at most %d email domains; you entered %d.", maxDomains, len(fields))
		return nil
	}

	var out []string
	for _, f := range fields {
		name, msg := normalizeDomain(f)
		if msg == "" && publicMailDomains[name] {
			msg = name + " is a public email provider. List the domains your company owns."
		}
		if msg != "" {
			problems.errorf(FieldEmailDomains, "%s", msg)
			continue
		}
		if !contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// normalizeDomain returns the ASCII form of one domain name, or a message
// saying what is wrong with it.
func normalizeDomain(raw string) (string, string) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(raw, "@")), ".")
	if i := strings.LastIndex(name, "@"); i >= 0 {
		return "", "Enter " + quote(raw) + " as the domain alone: " + name[i+1:] + "."
	}
	if strings.Contains(name, "://") || strings.Contains(name, "/") {
		return "", "Enter " + quote(raw) + " as a domain such as example.com, without https:// or a path."
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return "", quote(raw) + " is an IP address. Enter the domain of your users' email addresses."
	}

	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil || len(ascii) > maxDomainLength || !strings.Contains(ascii, ".") || !validLabels(ascii) {
		return "", quote(raw) + " is not a valid domain name. Enter a domain such as example.com."
	}
	return ascii, ""
}

// validLabels checks each label of an ASCII domain name: 1 to 63 letters,
// digits and hyphens, not starting or ending with a hyphen, and a top-level
// label that is not all digits.
func validLabels(name string) bool {
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// checkEmail returns the contact's address with its domain in lowercase.
func checkEmail(value string, problems *problemList) string {
	value = strings.TrimSpace(value)
	if value == "" {
		problems.errorf(FieldContactEmail, "Enter your work email address. We send a link to it to confirm the request.")
		return ""
	}
	if len(value) > maxEmailLength {
		problems.errorf(FieldContactEmail, "Enter an email address of at most %d characters.", maxEmailLength)
		return ""
	}

	addr, err := mail.ParseAddress(value)
	at := strings.LastIndex(value, "@")
	if err != nil || addr.Address != value || at < 1 {
		problems.errorf(FieldContactEmail, "Enter an email address in the form name@example.com.")
		return ""
	}
	domain, msg := normalizeDomain(value[at+1:])
	if msg != "" {
		problems.errorf(FieldContactEmail, "Enter an email address with a valid domain, in the form name@example.com.")
		return ""
	}
	return value[:at+1] + domain
}

// inDomains reports whether the address's domain is one of domains or a
// subdomain of one.
func inDomains(email string, domains []string) bool {
	domain := email[strings.LastIndex(email, "@")+1:]
	for _, d := range domains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// checkPhone accepts international and local notations: digits with spaces,
// dots, hyphens, brackets, a leading + and an extension ("x12", "ext. 12").
// The number itself must have 6 to 15 digits, the E.164 maximum.
func checkPhone(value string, problems *problemList) string {
	value = strings.TrimSpace(value)
	if value == "" {
		problems.errorf(FieldContactPhone, "Enter a phone number where the implementations team can reach you.")
		return ""
	}
	if len(value) > maxPhoneLength {
		problems.errorf(FieldContactPhone, "Enter a phone number of at most %d characters.", maxPhoneLength)
		return ""
	}

	number, _, _ := cutExtension(strings.ToLower(value))
	digits := 0
	for i, r := range number {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			problems.errorf(FieldContactPhone, "Enter the phone number with digits, spaces and + ( ) - only, "+
				"for example +1 415 555 0100 or +44 20 7946 0000 ext. 12.")
			return ""
		}
	}
	if digits < 6 || digits > 15 {
		problems.errorf(FieldContactPhone, "Enter the full phone number with its country code, "+
			"for example +1 415 555 0100 (6 to 15 digits; it has %d).", digits)
		return ""
	}
	return value
}

// cutExtension splits "number ext. 12" or "number x12" into the number and
// the extension digits.
func cutExtension(value string) (string, string, bool) {
	for _, sep := range []string{"extension", "ext.", "ext", "x", "#"} {
		if number, ext, ok := strings.Cut(value, sep); ok {
			ext = strings.TrimSpace(ext)
			if ext != "" && strings.Trim(ext, "0123456789") == "" {
				return strings.TrimSpace(number), ext, true
			}
		}
	}
	return value, "", false
}

// checkSlug checks a slug the contact proposed; empty means none.
func checkSlug(value string, problems *problemList) string {
	slug := strings.ToLower(strings.TrimSpace(value))
	if slug == "" {
		return ""
	}
	if !tenants.ValidSlug(slug) || strings.HasSuffix(slug, "-") {
		problems.errorf(FieldTenantSlug, "Use 2 to 63 lowercase letters, digits and hyphens, starting with a letter "+
			"or digit, such as acme-corp. Or leave it empty and we will make one from your company name.")
		return ""
	}
	return slug
}

func quote(s string) string { return "“" + s + "”" }
