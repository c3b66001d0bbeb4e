package forms_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/mail"
)

// The expiry notice must point the contact to a path that works: the
// status page of a setup request cannot replace an approved tenant's
// metadata, but staff can from the metadata file the contact sends.
func TestCertificateExpiryMailAsksForMetadataFile(t *testing.T) {
	t.Parallel()
	for _, days := range []int{30, 1, -2} {
		msg, err := mail.CertificateExpiry("it@example.com", "Example", "example", "CN=idp.example.com", time.Now(), days)
		if err != nil {
			t.Fatal(err)
		}
		for part, body := range map[string]string{"text": msg.Text, "HTML": msg.HTML} {
			if !strings.Contains(body, "reply to this email with that file attached") {
				t.Errorf("%d days, %s body does not ask for the metadata file:\n%s", days, part, body)
			}
			if strings.Contains(body, "status page") {
				t.Errorf("%d days, %s body still points to the status page", days, part)
			}
		}
	}
}
