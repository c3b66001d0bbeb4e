package mail

import (
	"fmt"
	"time"
)

// The constructors below check their addresses and links and render the
// message from templates/. A message carries no secret except the link it
// exists to deliver.

type verifyRequestData struct {
	header
	ContactName, Company, Reference, VerifyURL, StatusURL string
}

// VerifyRequest builds the mail that asks an IT contact to confirm their
// email address, which sends their setup request to the staff queue.
// statusURL is the request's private status page.
func VerifyRequest(to, contactName, company, reference, verifyURL, statusURL string) (Message, error) {
	address, err := checkMessage(KindVerifyRequest, to, "company", company, "reference", reference)
	if err == nil {
		err = checkLinks(KindVerifyRequest, "verify URL", verifyURL, "status URL", statusURL)
	}
	if err != nil {
		return Message{}, err
	}
	return render(KindVerifyRequest, address, &verifyRequestData{
		ContactName: contactName, Company: company, Reference: reference,
		VerifyURL: verifyURL, StatusURL: statusURL,
	})
}

type requestStatusData struct {
	header
	ContactName, Company, Reference, State, Note, StatusURL string
	SCIM                                                    ApprovalSCIM
}

// ApprovalSCIM is the news about SCIM provisioning that an approval mail
// gives the contact.
type ApprovalSCIM string

// The SCIM news of an approval mail.
const (
	// SCIMNotRequested: the request did not ask for SCIM provisioning.
	SCIMNotRequested ApprovalSCIM = "not_requested"
	// SCIMTokenFollows: a token mail is enqueued right after this one.
	SCIMTokenFollows ApprovalSCIM = "token_follows"
	// SCIMTokenSent: the token was mailed before, such as when the tenant
	// already had a working token or the contact asked for new links.
	SCIMTokenSent ApprovalSCIM = "token_sent"
)

// RequestApproved builds the RequestStatus mail of an approved request
// with the SCIM news scim, so the contact need not guess whether a token
// mail follows.
func RequestApproved(to, contactName, company, reference, note, statusURL string, scim ApprovalSCIM) (Message, error) {
	switch scim {
	case SCIMNotRequested, SCIMTokenFollows, SCIMTokenSent:
	default:
		return Message{}, fmt.Errorf("build %s mail: unknown SCIM news %q", KindRequestStatus, scim)
	}
	return requestStatus(to, &requestStatusData{
		ContactName: contactName, Company: company, Reference: reference,
		State: "approved", Note: note, StatusURL: statusURL, SCIM: scim,
	})
}

// RequestStatus builds the mail that notifies an IT contact of their setup
// request's new state: "submitted", "approved", "rejected" or
// "changes_requested". note is the reviewer's note to the contact and may
// be empty.
func RequestStatus(to, contactName, company, reference, state, note, statusURL string) (Message, error) {
	switch state {
	case "submitted", "approved", "rejected", "changes_requested":
	default:
		return Message{}, fmt.Errorf("build %s mail: unknown state %q", KindRequestStatus, state)
	}
	return requestStatus(to, &requestStatusData{
		ContactName: contactName, Company: company, Reference: reference,
		State: state, Note: note, StatusURL: statusURL,
	})
}

// requestStatus checks and renders a request_status mail.
func requestStatus(to string, data *requestStatusData) (Message, error) {
	address, err := checkMessage(KindRequestStatus, to, "company", data.Company, "reference", data.Reference)
	if err == nil {
		err = checkLinks(KindRequestStatus, "status URL", data.StatusURL)
	}
	if err != nil {
		return Message{}, err
	}
	return render(KindRequestStatus, address, data)
}

type tokenDeliveryData struct {
	header
	ContactName, Company, TenantSlug, RevealURL, Expires string
}

// TokenDelivery builds the mail with the link that reveals a tenant's SCIM
// token to its IT contact once, until expires. The mail never contains the
// token.
func TokenDelivery(to, contactName, company, tenantSlug, revealURL string, expires time.Time) (Message, error) {
	address, err := checkMessage(KindTokenDelivery, to, "company", company, "tenant slug", tenantSlug)
	if err == nil {
		err = checkLinks(KindTokenDelivery, "reveal URL", revealURL)
	}
	if err != nil {
		return Message{}, err
	}
	return render(KindTokenDelivery, address, &tokenDeliveryData{
		ContactName: contactName, Company: company, TenantSlug: tenantSlug,
		RevealURL: revealURL, Expires: formatTime(expires),
	})
}

type staffPasswordData struct {
	header
	Name, Link, Expires string
}

// StaffPasswordLink builds the mail with a staff member's one-time link
// that sets or resets their password, valid until expires.
func StaffPasswordLink(to, name, link string, expires time.Time) (Message, error) {
	address, err := checkMessage(KindStaffPassword, to)
	if err == nil {
		err = checkLinks(KindStaffPassword, "password link", link)
	}
	if err != nil {
		return Message{}, err
	}
	return render(KindStaffPassword, address, &staffPasswordData{
		Name: name, Link: link, Expires: formatTime(expires),
	})
}

type userSetupData struct {
	header
	Name, Company, Link string
	SSOOnly             bool
}

// UserSetup builds the mail that invites a user whom SCIM provisioned to
// set up their account. With ssoOnly, the user signs in through the
// company's IdP and sets no password.
func UserSetup(to, name, company, link string, ssoOnly bool) (Message, error) {
	address, err := checkMessage(KindUserSetup, to, "company", company)
	if err == nil {
		err = checkLinks(KindUserSetup, "setup link", link)
	}
	if err != nil {
		return Message{}, err
	}
	return render(KindUserSetup, address, &userSetupData{
		Name: name, Company: company, Link: link, SSOOnly: ssoOnly,
	})
}

type certificateExpiryData struct {
	header
	Company, TenantSlug, CertificateSubject, NotAfter string
	Days                                              int
}

// CertificateExpiry builds the warning that a tenant's IdP signing
// certificate, named by its subject, expires at notAfter. days is the
// number of whole days left, negative once the certificate has expired.
func CertificateExpiry(to, company, tenantSlug, subject string, notAfter time.Time, days int) (Message, error) {
	address, err := checkMessage(KindCertificateExpiry, to, "company", company, "tenant slug", tenantSlug)
	if err != nil {
		return Message{}, err
	}
	return render(KindCertificateExpiry, address, &certificateExpiryData{
		Company: company, TenantSlug: tenantSlug, CertificateSubject: subject,
		NotAfter: formatTime(notAfter), Days: days,
	})
}

// checkMessage checks the recipient and the required fields, given as
// name and value pairs, and returns the bare recipient address.
func checkMessage(kind, to string, required ...string) (string, error) {
	address, err := checkAddress(to)
	if err != nil {
		return "", fmt.Errorf("build %s mail: %w", kind, err)
	}
	if err := checkRequired(required...); err != nil {
		return "", fmt.Errorf("build %s mail: %w", kind, err)
	}
	return address, nil
}

// checkLinks checks links, given as name and value pairs.
func checkLinks(kind string, links ...string) error {
	for i := 0; i+1 < len(links); i += 2 {
		if err := checkLink(links[i], links[i+1]); err != nil {
			return fmt.Errorf("build %s mail: %w", kind, err)
		}
	}
	return nil
}
