// Package bench holds gatehouse's benchmarks. They run only with -bench
// (make bench), never in a plain go test run.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/scim"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// loadedUsers is how many users the tenant has before the benchmark starts.
const loadedUsers = 10000

// BenchmarkSCIM drives SCIM create, userName lookup, GET by id and PATCH
// deactivate over HTTP on loopback at 1, 8 and 32 concurrent clients, and
// in the same run the same PostgreSQL doing a bare single-row INSERT,
// indexed SELECT and UPDATE on the users table at the same concurrency. It
// prints requests per second, p50 and p99 and the ratio of each SCIM
// operation to its bare counterpart. Each measurement lasts
// GATEHOUSE_BENCH_SECONDS (default 3) seconds, and starts after a VACUUM
// ANALYZE of the tables written; b.N is ignored.
// GATEHOUSE_BENCH_OPS (such as "PATCH,GET") and GATEHOUSE_BENCH_CLIENTS
// (such as "32") run only those operations and client counts, for
// profiling one of them.
//
// It also prints the CPU time each request took in this process (the
// HTTP client, the SCIM server and the driver, or the driver alone) and
// in the database's backends, which shows where the two shared cores go.
func BenchmarkSCIM(b *testing.B) {
	env := setUp(b)
	duration := 3 * time.Second
	if s, err := strconv.ParseFloat(os.Getenv("GATEHOUSE_BENCH_SECONDS"), 64); err == nil && s > 0 {
		duration = time.Duration(s * float64(time.Second))
	}

	type pair struct {
		name, bareName string
		scimOp, bareOp func(i int64) error
		target         float64
		// scimSeq and bareSeq number the operations across all client
		// counts, so inserts stay unique and updates walk on through the users.
		scimSeq, bareSeq atomic.Int64
	}
	pairs := []*pair{
		{name: "create", bareName: "INSERT", scimOp: env.scimCreate, bareOp: env.bareInsert, target: 0.5},
		{name: "lookup", bareName: "SELECT", scimOp: env.scimLookup, bareOp: env.bareSelect, target: 0.4},
		{name: "GET", bareName: "SELECT", scimOp: env.scimGet, bareOp: env.bareSelect, target: 0.4},
		{name: "PATCH", bareName: "UPDATE", scimOp: env.scimPatch, bareOp: env.bareUpdate, target: 0.4},
	}
	fmt.Printf("\n%-7s %7s %9s %8s %8s | %-6s %9s %8s %8s | %6s %6s | %s\n",
		"SCIM op", "clients", "req/s", "p50 ms", "p99 ms", "bare", "req/s", "p50 ms", "p99 ms", "ratio", "target",
		"CPU us per request: SCIM Go, SCIM PG, bare Go, bare PG")
	for _, clients := range []int{1, 8, 32} {
		if !selected("GATEHOUSE_BENCH_CLIENTS", strconv.Itoa(clients)) {
			continue
		}
		for _, p := range pairs {
			if !selected("GATEHOUSE_BENCH_OPS", p.name) {
				continue
			}
			env.vacuum(b)
			bareStart := env.cpu()
			bare := measure(b, clients, duration, &p.bareSeq, p.bareOp)
			bareEnd := env.cpu()
			env.vacuum(b)
			scimStart := env.cpu()
			got := measure(b, clients, duration, &p.scimSeq, p.scimOp)
			// The server writes its request log once a second; waiting
			// for the last batch counts its CPU time with SCIM's.
			time.Sleep(requestLogDelay)
			scimEnd := env.cpu()
			ratio := got.rate / bare.rate
			fmt.Printf("%-7s %7d %9.0f %8.2f %8.2f | %-6s %9.0f %8.2f %8.2f | %5.0f%% %5.0f%% | %s %s\n",
				p.name, clients, got.rate, ms(got.p50), ms(got.p99), p.bareName, bare.rate, ms(bare.p50), ms(bare.p99), ratio*100, p.target*100,
				scimEnd.perRequest(scimStart, got, duration), bareEnd.perRequest(bareStart, bare, duration))
			if clients == 32 {
				b.ReportMetric(ratio, p.name+"-ratio-32")
				b.ReportMetric(ms(got.p99), p.name+"-p99-ms-32")
			}
		}
	}
}

// selected reports whether the comma-separated list in the environment
// variable key names value, ignoring case. An unset variable selects all.
func selected(key, value string) bool {
	list := os.Getenv(key)
	if list == "" {
		return true
	}
	for _, item := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(item), value) {
			return true
		}
	}
	return false
}

// requestLogDelay is a little longer than the interval at which the SCIM
// server writes its request log.
const requestLogDelay = 1200 * time.Millisecond

// vacuum runs VACUUM ANALYZE on the tables the benchmark writes, so each
// measurement starts from a table without the dead rows of the one
// before, and autovacuum is unlikely to start during a measurement and
// slow down one side only.
func (e *benchEnv) vacuum(b *testing.B) {
	if _, err := e.db.Exec(`VACUUM (ANALYZE) users, scim_request_log, scim_tokens, sessions`); err != nil {
		b.Fatal(err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the CPU time used so far by this process and by the
// database's backends. pgOK is false where the backends' /proc entries
// cannot be read, such as a database on another machine.
type cpuTime struct {
	process  time.Duration
	backends time.Duration
	pgOK     bool
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat: USER_HZ,
// 100 per second on Linux's common architectures.
const clockTick = 10 * time.Millisecond

func (e *benchEnv) cpu() cpuTime {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	t := cpuTime{process: time.Duration(usage.Utime.Nano() + usage.Stime.Nano())}

	var pids []int
	if err := e.db.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		return t
	}
	t.pgOK = true
	for _, pid := range pids {
		ticks, ok := processTicks(pid)
		t.pgOK = t.pgOK && ok
		t.backends += time.Duration(ticks) * clockTick
	}
	return t
}

// processTicks returns the user and system CPU time of a process in
// clock ticks, from fields 14 and 15 of /proc/<pid>/stat.
func processTicks(pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name in field 2 may hold spaces, so count from its
	// closing parenthesis.
	end := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	user, err1 := strconv.ParseInt(fields[11], 10, 64)
	system, err2 := strconv.ParseInt(fields[12], 10, 64)
	return user + system, err1 == nil && err2 == nil
}

// perRequest formats the CPU time per request between since and t, in
// microseconds, in this process and in the database's backends. Backends
// that ended in between are not counted.
func (t cpuTime) perRequest(since cpuTime, r result, d time.Duration) string {
	n := r.rate * d.Seconds()
	backends := "-"
	if t.pgOK && since.pgOK {
		backends = fmt.Sprintf("%.0f", float64((t.backends-since.backends).Microseconds())/n)
	}
	return fmt.Sprintf("%7.0f %7s", float64((t.process-since.process).Microseconds())/n, backends)
}

type result struct {
	rate     float64
	p50, p99 time.Duration
}

// measure runs op from clients goroutines for d and returns the rate and
// latency percentiles. The first error stops the benchmark.
func measure(b *testing.B, clients int, d time.Duration, counter *atomic.Int64, op func(i int64) error) result {
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)

	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := op(counter.Add(1)); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(latencies)
	n := len(latencies)
	if n == 0 {
		b.Fatal("no operation completed")
	}
	return result{rate: float64(n) / d.Seconds(), p50: latencies[n/2], p99: latencies[n*99/100]}
}

func cmpErr(have, err error) error {
	if have != nil {
		return have
	}
	return err
}

type benchEnv struct {
	db       *sqlx.DB
	tenantID string
	token    string
	base     string
	client   *http.Client
	ids      []string
	// run makes the userNames of each benchmark run unique, so a
	// benchmark run twice on one database does not collide.
	run string
	// active holds each loaded user's active value as the benchmark last
	// set it, by index in ids. The bare UPDATE and the SCIM PATCH write
	// the same users, so the PATCH reads it to send the opposite value.
	active []atomic.Bool
}

func setUp(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	db := pgtest.New(b)
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)

	store := tenants.NewStore(db)
	tenant, err := store.Create(ctx, tenants.Tenant{Slug: "bench", Name: "Bench", Product: tenants.MealProgram, Settings: tenants.Settings{SCIM: true}})
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := store.IssueToken(ctx, tenant.ID)
	if err != nil {
		b.Fatal(err)
	}
	env := &benchEnv{db: db, tenantID: tenant.ID, token: token.Reveal(), run: strconv.FormatInt(time.Now().UnixNano(), 36)}
	if err := env.loadUsers(ctx); err != nil {
		b.Fatal(err)
	}
	env.active = make([]atomic.Bool, len(env.ids))
	for i := range env.active {
		env.active[i].Store(true)
	}

	srv, err := scim.New(scim.Config{
		DB: db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	httpServer := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		httpServer.Close()
		srv.Close(context.Background())
	})
	env.base = httpServer.URL + "/scim/v2"
	env.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	return env
}

// loadUsers inserts the users in one statement, shaped as SCIM creates them.
func (e *benchEnv) loadUsers(ctx context.Context) error {
	_, err := e.db.ExecContext(ctx, `
		INSERT INTO users (tenant_id, user_name, given_name, family_name, email, scim_managed, attributes)
		SELECT $1, 'user' || i || '@bench.example', 'Given' || i, 'Family' || i, 'user' || i || '@bench.example', true,
			jsonb_build_object('emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@bench.example', 'type', 'work', 'primary', true)))
		FROM generate_series(1, $2) AS i`, e.tenantID, loadedUsers)
	if err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	if _, err := e.db.ExecContext(ctx, `ANALYZE users`); err != nil {
		return err
	}
	return e.db.SelectContext(ctx, &e.ids, `SELECT id FROM users WHERE tenant_id = $1 ORDER BY user_name`, e.tenantID)
}

func (e *benchEnv) userName(i int64) string {
	return "user" + strconv.FormatInt(i%loadedUsers+1, 10) + "@bench.example"
}

func (e *benchEnv) send(method, path, body string, want int) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	return nil
}

func (e *benchEnv) scimCreate(i int64) error {
	name := fmt.Sprintf("new-%s-%d@bench.example", e.run, i)
	return e.send("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+
		`","name":{"givenName":"New","familyName":"User"},"emails":[{"primary":true,"value":"`+name+`","type":"work"}],"active":true}`, http.StatusCreated)
}

func (e *benchEnv) scimLookup(int64) error {
	name := e.userName(rand.Int64N(loadedUsers))
	return e.send("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), "", http.StatusOK)
}

func (e *benchEnv) scimGet(int64) error {
	return e.send("GET", "/Users/"+e.ids[rand.IntN(len(e.ids))], "", http.StatusOK)
}

// scimPatch walks the loaded users in order and deactivates an active
// user or reactivates an inactive one, so every request changes the user.
func (e *benchEnv) scimPatch(i int64) error {
	k := i % loadedUsers
	active := !e.active[k].Load()
	err := e.send("PATCH", "/Users/"+e.ids[k], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":`+strconv.FormatBool(active)+`}}]}`, http.StatusOK)
	e.active[k].Store(active)
	return err
}

func (e *benchEnv) bareInsert(i int64) error {
	name := fmt.Sprintf("bare-%s-%d@bench.example", e.run, i)
	_, err := e.db.Exec(`INSERT INTO users (tenant_id, user_name, given_name, family_name, email, scim_managed, attributes)
		VALUES ($1, $2, 'Bare', 'User', $2, true, $3)`, e.tenantID, name,
		`{"emails":[{"value":"`+name+`","type":"work","primary":true}]}`)
	return err
}

func (e *benchEnv) bareSelect(int64) error {
	var u tenants.User
	return e.db.Get(&u, `SELECT `+tenants.UserColumns+` FROM users
		WHERE tenant_id = $1 AND lower(user_name) = lower($2) AND deleted_at IS NULL`, e.tenantID, e.userName(rand.Int64N(loadedUsers)))
}

func (e *benchEnv) bareUpdate(i int64) error {
	active := (i/loadedUsers)%2 == 1
	_, err := e.db.Exec(`UPDATE users SET active = $3, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
		e.tenantID, e.ids[i%loadedUsers], active)
	e.active[i%loadedUsers].Store(active)
	return err
}
