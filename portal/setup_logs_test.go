package portal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/portal"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// lockedBuffer collects log lines from concurrent handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records decodes the JSON log lines written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("decode log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// newSetupEnvLogging returns a setupEnv whose portal writes its log as JSON
// to logs.
func newSetupEnvLogging(t *testing.T, logs *lockedBuffer) *setupEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	env := &setupEnv{t: t, db: pgtest.New(t), engine: gin.New(), now: setupClock}
	base, _ := url.Parse(setupBaseURL)
	srv, err := portal.New(portal.Config{
		DB:      env.db,
		BaseURL: base,
		Keyring: secrets.NewKeyring(secrets.NewMasterKey(bytes.Repeat([]byte{7}, 32))),
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Now:     func() time.Time { return env.now },
	})
	if err != nil {
		t.Fatalf("portal.New: %v", err)
	}
	srv.Register(env.engine)
	return env
}

// TestSetupEventLogKeys checks that the contact's events name
// the setup request as setup_request_id. The program's log handler adds
// request_id, the HTTP request's ID, to every record, so an event that
// used request_id too would carry the key twice.
func TestSetupEventLogKeys(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	env := newSetupEnvLogging(t, logs)

	verify, status := env.submitValid(validForm(t), "192.0.2.30")
	if rec := env.postURLEncoded(verify, url.Values{}, "192.0.2.30"); rec.Code != http.StatusSeeOther {
		t.Fatalf("POST verify: status %d", rec.Code)
	}
	r := env.staffMove(env.onlyRequest(), forms.StateInReview, "")
	r = env.staffMove(r, forms.StateChangesRequested, "Please check the phone number.")
	changed := validForm(t)
	changed.Set("version", fmt.Sprint(r.Version))
	changed.Set("resubmit_note", "Checked.")
	if rec := env.postMultipart(status+"/edit", changed, nil, "192.0.2.30"); rec.Code != http.StatusSeeOther {
		t.Fatalf("POST edit: status %d\n%s", rec.Code, errorSummary(rec.Body.String()))
	}
	r = env.onlyRequest()
	withdraw := url.Values{"version": {fmt.Sprint(r.Version)}, "reason": {"Testing logs."}}
	if rec := env.postURLEncoded(status+"/withdraw", withdraw, "192.0.2.30"); rec.Code != http.StatusSeeOther {
		t.Fatalf("POST withdraw: status %d", rec.Code)
	}

	seen := map[string]bool{}
	for _, rec := range logs.records(t) {
		msg, _ := rec["msg"].(string)
		if !strings.HasPrefix(msg, "setup_request_") {
			continue
		}
		seen[msg] = true
		if _, ok := rec["request_id"]; ok {
			t.Errorf("%s has the key request_id, which the HTTP request ID uses", msg)
		}
		if got := rec["setup_request_id"]; got != r.ID {
			t.Errorf("%s: setup_request_id = %v, want %s", msg, got, r.ID)
		}
	}
	for _, want := range []string{"setup_request_created", "setup_request_verified", "setup_request_resubmitted", "setup_request_withdrawn"} {
		if !seen[want] {
			t.Errorf("no %s event in the log", want)
		}
	}
}
