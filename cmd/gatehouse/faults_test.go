package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/mail"
)

// TestDatabaseRestartUnderSCIMLoad stops PostgreSQL while SCIM clients
// create users, and starts it again. While it is down, every request must
// fail with 503 and a SCIM error body. After the restart, requests must
// succeed, and the users stored must be exactly those whose create got 201.
func TestDatabaseRestartUnderSCIMLoad(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	ts := startServer(t, serverOptions{DatabaseURL: pg.URL})
	tenant, token := newSCIMTenant(t, ts.DB, "faults")
	load := startSCIMLoad(t, ts.URL, token, 4)

	load.waitCreated(t, 20)
	pg.stop(t)
	downFrom := load.sent.Load()
	time.Sleep(1500 * time.Millisecond)
	checkHealth(t, ts.URL, http.StatusServiceUnavailable, "database unreachable")
	downUntil := load.sent.Load()
	pg.start(t)

	createdBefore := load.createdCount()
	load.waitCreated(t, createdBefore+20)
	results := load.stop()
	checkHealth(t, ts.URL, http.StatusOK, "ready")

	var unavailable, outage int
	for _, r := range results {
		switch {
		case r.err != "":
			t.Errorf("create %s: %s", r.userName, r.err)
		case r.status == http.StatusServiceUnavailable:
			unavailable++
		case r.status != http.StatusCreated:
			t.Errorf("create %s: status %d, want 201 or 503", r.userName, r.status)
		}
		if r.seq > downFrom && r.seq <= downUntil-int64(load.clients) && r.status != http.StatusServiceUnavailable {
			t.Errorf("create %s sent while the database was down: status %d, want 503", r.userName, r.status)
		}
		if r.seq > downFrom && r.seq <= downUntil {
			outage++
		}
	}
	if outage == 0 || unavailable == 0 {
		t.Fatalf("%d requests sent during the outage, %d answered 503; want some of each", outage, unavailable)
	}
	t.Logf("%d creates: %d got 201, %d got 503", len(results), load.createdCount(), unavailable)
	checkNoPartialWrites(t, ts.DB, tenant.ID, results)
}

// checkNoPartialWrites compares the tenant's users with the creates that
// got 201: a create that failed must have left nothing behind.
func checkNoPartialWrites(t *testing.T, db *sqlx.DB, tenantID string, results []loadResult) {
	t.Helper()
	var want []string
	for _, r := range results {
		if r.status == http.StatusCreated {
			want = append(want, r.userName)
		}
	}
	var got []string
	if err := db.Select(&got, `SELECT user_name FROM users WHERE tenant_id = $1`, tenantID); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored users against creates that got 201 (-want +got):\n%s", diff)
	}
}

// loadPause is the wait between one client's requests. Four clients then
// send about 35 requests a second, under SCIM's per-tenant rate limit of
// 50 a second, so no request gets 429.
const loadPause = 110 * time.Millisecond

// scimLoad is a set of SCIM clients that each create users one after
// another until stopped.
type scimLoad struct {
	clients int
	sent    atomic.Int64 // creates started, numbering them
	done    chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	results []loadResult
}

// loadResult is the outcome of one create.
type loadResult struct {
	seq      int64
	userName string
	status   int
	err      string // a transport error or a response that is not the expected SCIM body
}

func startSCIMLoad(t *testing.T, base, token string, clients int) *scimLoad {
	l := &scimLoad{clients: clients, done: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			c := newTestClient(t, base)
			header := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/scim+json"}}
			for {
				select {
				case <-l.done:
					return
				default:
				}
				seq := l.sent.Add(1)
				userName := fmt.Sprintf("load-%05d@faults.example", seq)
				res, err := c.try(http.MethodPost, "/scim/v2/Users", scimUserJSON(userName), header)
				l.record(loadResult{seq: seq, userName: userName, status: res.Status, err: checkCreateResponse(res, err)})
				time.Sleep(loadPause)
			}
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// checkCreateResponse returns what is wrong with a create's response: a
// 201 must carry the user, and a 503 the SCIM error body with status "503".
func checkCreateResponse(res testResponse, err error) string {
	if err != nil {
		return err.Error()
	}
	switch res.Status {
	case http.StatusCreated:
		if !strings.Contains(res.Body, `"id"`) {
			return "201 without the user's id: " + res.Body
		}
	case http.StatusServiceUnavailable:
		var body struct {
			Schemas []string
			Status  string
		}
		if json.Unmarshal([]byte(res.Body), &body) != nil || !slices.Contains(body.Schemas, "urn:ietf:params:scim:api:messages:2.0:Error") || body.Status != "503" {
			return "503 without a SCIM error body: " + res.Body
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			return "503 with Content-Type " + ct
		}
	}
	return ""
}

func (l *scimLoad) record(r loadResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, r)
}

func (l *scimLoad) createdCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.results {
		if r.status == http.StatusCreated {
			n++
		}
	}
	return n
}

// waitCreated waits until n creates got 201, for at most 30 seconds.
func (l *scimLoad) waitCreated(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d users created", n), func() bool { return l.createdCount() >= n })
}

// stop ends the load and returns every result. It may be called again.
func (l *scimLoad) stop() []loadResult {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

// privatePostgres is a PostgreSQL cluster of one test, which the test may
// stop and start. It listens only on a unix socket in its own directory.
type privatePostgres struct {
	URL   string
	dir   string
	pgCtl string
	owner string // the operating system user that runs the cluster
}

// startPrivatePostgres creates and starts a cluster in a new directory
// under /var/tmp, which the postgres user can reach when the tests run as
// root (initdb refuses to run as root). Without initdb the test is
// skipped, unless CI=true, where it fails.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	initdb, pgCtl := findPostgresProgram("initdb"), findPostgresProgram("pg_ctl")
	if initdb == "" || pgCtl == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("initdb and pg_ctl are not installed; CI must run the database fault tests (apt-get install postgresql)")
		}
		t.Skip("initdb and pg_ctl are not installed (apt-get install postgresql)")
	}

	dir, err := os.MkdirTemp("/var/tmp", "gatehouse-faults-")
	if err != nil {
		t.Fatal(err)
	}
	pg := &privatePostgres{dir: dir, pgCtl: pgCtl, owner: currentUserName(t)}
	if os.Geteuid() == 0 {
		pg.owner = "postgres"
		chownToPostgres(t, dir)
	}
	t.Cleanup(func() {
		pg.run(pgCtl, "stop", "--pgdata="+pg.dir+"/data", "--mode=immediate", "--wait")
		os.RemoveAll(dir)
	})

	out, err := pg.run(initdb, "--pgdata="+dir+"/data", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--username="+pg.owner)
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if out, err := pg.run("mkdir", dir+"/socket"); err != nil {
		t.Fatalf("make the socket directory: %v\n%s", err, out)
	}
	pg.URL = "postgres:///postgres?host=" + dir + "/socket&user=" + pg.owner + "&sslmode=disable&binary_parameters=yes"
	pg.start(t)
	return pg
}

func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	options := "-c listen_addresses='' -c unix_socket_directories='" + pg.dir + "/socket' -c fsync=off -c max_connections=100"
	out, err := pg.run(pg.pgCtl, "start", "--pgdata="+pg.dir+"/data", "--wait", "--log="+pg.dir+"/postgres.log", "-o", options)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "postgres.log"))
		t.Fatalf("start PostgreSQL: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the cluster as an operator's restart does: it ends every
// session and rolls back their open transactions.
func (pg *privatePostgres) stop(t *testing.T) {
	t.Helper()
	if out, err := pg.run(pg.pgCtl, "stop", "--pgdata="+pg.dir+"/data", "--mode=fast", "--wait"); err != nil {
		t.Fatalf("stop PostgreSQL: %v\n%s", err, out)
	}
}

// run runs a program as the cluster's owner.
func (pg *privatePostgres) run(program string, args ...string) ([]byte, error) {
	cmd := exec.Command(program, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", pg.owner, "--", program}, args...)...)
	}
	return cmd.CombinedOutput()
}

// findPostgresProgram looks for a PostgreSQL server program on PATH and
// in Debian's /usr/lib/postgresql/VERSION/bin, newest version first.
func findPostgresProgram(name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.SortFunc(matches, func(a, b string) int { return postgresVersion(b) - postgresVersion(a) })
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}

func postgresVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func currentUserName(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func chownToPostgres(t *testing.T, dir string) {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root needs the postgres user to run the test cluster: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// TestSMTPDownMailWaits runs a server whose SMTP server drops every
// connection: mail waits in the outbox with a backoff, and goes out once
// each when the SMTP server is back.
func TestSMTPDownMailWaits(t *testing.T) {
	t.Parallel()
	sink := startSMTPSink(t)
	sink.down.Store(true)
	ts := startServer(t, serverOptions{SMTPURL: sink.url(), MailFrom: testMailFrom})

	want := map[string]int{}
	for i := range 3 {
		to := fmt.Sprintf("waiting-%d@example.test", i)
		if _, err := mail.Enqueue(t.Context(), ts.DB, mail.Message{Kind: "smtp_down_test", To: to, Subject: "Waiting", Text: "Hello."}); err != nil {
			t.Fatal(err)
		}
		want[to] = 1
	}
	waitFor(t, 15*time.Second, "a failed first attempt at each message", func() bool {
		return countOutbox(t, ts.DB, `state = 'pending' AND attempts = 1 AND last_error <> '' AND claimed_until IS NULL`) == 3
	})

	// The worker polls every second; two polls later, nothing was retried,
	// because ExponentialBackoff waits at least 15 s after a first failure.
	time.Sleep(2 * time.Second)
	if n := countOutbox(t, ts.DB, `attempts = 1 AND next_attempt_at > now() + interval '10 seconds'`); n != 3 {
		t.Errorf("%d of 3 messages wait over 10 s for their second attempt, want all", n)
	}
	families, _ := scrapeMetrics(t, ts.URL)
	if got := families["gatehouse_outbox_pending"].GetMetric()[0].GetGauge().GetValue(); got != 3 {
		t.Errorf("gatehouse_outbox_pending = %v while SMTP is down, want 3", got)
	}

	sink.down.Store(false)
	// Stand in for the backoff running out, instead of waiting 15 to 30 s.
	if _, err := ts.DB.ExecContext(t.Context(), `UPDATE outbox SET next_attempt_at = now() WHERE kind = 'smtp_down_test'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "every message sent", func() bool {
		return countOutbox(t, ts.DB, `state = 'sent' AND attempts = 2`) == 3
	})
	time.Sleep(1500 * time.Millisecond) // over one poll interval, for any duplicate to arrive

	got := map[string]int{}
	for _, m := range sink.messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
}

func countOutbox(t *testing.T, db *sqlx.DB, where string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM outbox WHERE `+where); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGracefulShutdown holds a row lock so that a SCIM PATCH waits in the
// database, stops the server, and checks that the server stops accepting
// connections at once, lets the PATCH finish, and then returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	_, token := newSCIMTenant(t, ts.DB, "shutdown")
	created := scimRequest(t, ts.URL, token, http.MethodPost, "/Users", scimUserJSON("slow@shutdown.example"))
	var user struct{ ID string }
	if err := json.Unmarshal([]byte(created.Body), &user); err != nil || created.Status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", created.Status, created.Body)
	}

	lock, err := ts.DB.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, user.ID); err != nil {
		t.Fatal(err)
	}

	patched := make(chan testResponse, 1)
	go func() {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
		header := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/scim+json"}}
		res, err := newTestClient(t, ts.URL).try(http.MethodPatch, "/scim/v2/Users/"+user.ID, body, header)
		if err != nil {
			res.Body = err.Error()
		}
		patched <- res
	}()
	waitFor(t, 10*time.Second, "the PATCH to wait for the row lock", func() bool {
		var waiting int
		err := ts.DB.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)
		return err == nil && waiting > 0
	})

	stopped := make(chan struct{})
	go func() {
		ts.Stop(t)
		close(stopped)
	}()
	addr := strings.TrimPrefix(ts.URL, "http://")
	waitFor(t, 5*time.Second, "the listener to close", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	select {
	case <-stopped:
		t.Fatal("serve returned while a request was in flight")
	case <-time.After(300 * time.Millisecond):
	}

	if err := lock.Commit(); err != nil {
		t.Fatal(err)
	}
	res := <-patched
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `"active":false`) {
		t.Errorf("PATCH in flight during shutdown: status %d, want 200 with the user deactivated: %s", res.Status, res.Body)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30 s after the last request finished")
	}
}
