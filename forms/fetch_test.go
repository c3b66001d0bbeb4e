package forms

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The tests send no traffic beyond loopback. Host names resolve through
// mapResolver, and a fetcher that must look like it reaches a public address
// gets a dialer that connects to the loopback test server instead. The
// documentation range 203.0.113.0/24 (RFC 5737) replaces public addresses,
// so a bug that bypassed the injected dialer would reach nothing.

const publicTestAddr = "203.0.113.10"

// mapResolver resolves host names from a map. A host with several answer
// lists gets the next list on each lookup, to imitate DNS rebinding.
type mapResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	lookups map[string]int
}

func newMapResolver(hosts map[string][]string) *mapResolver {
	r := &mapResolver{answers: map[string][][]string{}, lookups: map[string]int{}}
	for host, addrs := range hosts {
		r.answers[host] = [][]string{addrs}
	}
	return r
}

func (r *mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	lists, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := r.lookups[host]
	r.lookups[host]++
	list := lists[min(n, len(lists)-1)]

	var out []net.IPAddr
	for _, a := range list {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

// recordingDialer records every address it is asked to dial and connects to
// target instead, or fails when target is empty.
type recordingDialer struct {
	mu     sync.Mutex
	target string
	dialed []string
}

func (d *recordingDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, addr)
	d.mu.Unlock()

	if d.target == "" {
		return nil, errors.New("test dialer: no connection expected")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.target)
}

func (d *recordingDialer) addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dialed...)
}

// newTestServer starts an httptest TLS server on loopback. Its certificate
// is valid for example.com and *.example.com. The server does not log
// handshake failures, which some tests cause on purpose.
func newTestServer(t *testing.T, handler http.Handler) (*httptest.Server, *x509.CertPool, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return srv, pool, port
}

// publicFetcher returns a fetcher whose dials of public addresses reach srv.
// The address check is not relaxed.
func publicFetcher(srv *httptest.Server, pool *x509.CertPool, resolver Resolver) (*Fetcher, *recordingDialer) {
	dialer := &recordingDialer{target: srv.Listener.Addr().String()}
	return &Fetcher{Dial: dialer.Dial, Resolver: resolver, rootCAsForTest: pool}, dialer
}

const testMetadataBody = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com"/>`

func metadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		fmt.Fprint(w, testMetadataBody)
	})
}

func TestFetchLoopbackThroughTestHook(t *testing.T) {
	t.Parallel()
	_, pool, port := newTestServer(t, metadataHandler())
	loopback := netip.MustParseAddr("127.0.0.1")
	f := &Fetcher{
		Resolver:         newMapResolver(map[string][]string{"idp.example.com": {"127.0.0.1"}}),
		rootCAsForTest:   pool,
		allowAddrForTest: func(a netip.Addr) bool { return a == loopback },
	}

	body, err := f.Fetch(context.Background(), "https://idp.example.com:"+port+"/metadata")

	if err != nil {
		t.Fatalf("Fetch: %v (cause: %v)", err, errors.Unwrap(err))
	}
	if string(body) != testMetadataBody {
		t.Errorf("body = %q, want %q", body, testMetadataBody)
	}
}

func TestFetchPublicAddressDialsCheckedIP(t *testing.T) {
	t.Parallel()
	srv, pool, _ := newTestServer(t, metadataHandler())
	f, dialer := publicFetcher(srv, pool, newMapResolver(map[string][]string{"idp.example.com": {publicTestAddr}}))

	body, err := f.Fetch(context.Background(), "https://idp.example.com/metadata")

	if err != nil {
		t.Fatalf("Fetch: %v (cause: %v)", err, errors.Unwrap(err))
	}
	if string(body) != testMetadataBody {
		t.Errorf("body = %q, want %q", body, testMetadataBody)
	}
	if diff := cmp.Diff([]string{publicTestAddr + ":443"}, dialer.addrs()); diff != "" {
		t.Errorf("dialed addresses mismatch (-want +got):\n%s", diff)
	}
}

func TestFetchRejectsURL(t *testing.T) {
	t.Parallel()
	resolver := newMapResolver(map[string][]string{
		"localhost.example.com":       {"127.0.0.1"},
		"ten.example.com":             {"10.1.2.3"},
		"rfc1918-172.example.com":     {"172.16.5.4"},
		"rfc1918-192.example.com":     {"192.168.1.1"},
		"ula.example.com":             {"fd12:3456::1"},
		"linklocal6.example.com":      {"fe80::1"},
		"metadata.example.com":        {"169.254.169.254"},
		"mapped.example.com":          {"::ffff:127.0.0.1"},
		"mapped-metadata.example.com": {"::ffff:169.254.169.254"},
		"cgnat.example.com":           {"100.64.0.1"},
		"zero.example.com":            {"0.0.0.0"},
		"multicast.example.com":       {"224.0.0.251"},
		"nat64.example.com":           {"64:ff9b::a01:203"},
		"sixtofour.example.com":       {"2002:7f00:1::1"},
		"mixed.example.com":           {publicTestAddr, "10.0.0.1"},
		"v6loopback.example.com":      {"::1"},
	})
	blocked := "an internal or non-public network address that gatehouse does not connect to"

	tests := []struct {
		name string
		url  string
		want string
	}{
		{"empty URL", "  ", "Enter the metadata URL"},
		{"http URL", "http://idp.example.com/metadata", "must start with https://"},
		{"URL without scheme", "idp.example.com/metadata", "must start with https://"},
		{"URL with password", "https://admin:secret@idp.example.com/metadata", "contains a user name or password"},
		{"URL without host", "https:///metadata", "not a valid URL"},
		{"loopback literal", "https://127.0.0.1/metadata", "leads to 127.0.0.1, " + blocked},
		{"IPv6 loopback literal", "https://[::1]/metadata", "leads to ::1, " + blocked},
		{"cloud metadata literal", "https://169.254.169.254/latest/meta-data/", "leads to 169.254.169.254, " + blocked},
		{"host resolving to loopback", "https://localhost.example.com/", "leads to localhost.example.com, which resolves to 127.0.0.1, " + blocked},
		{"host resolving to IPv6 loopback", "https://v6loopback.example.com/", "resolves to ::1, " + blocked},
		{"host resolving to 10.0.0.0/8", "https://ten.example.com/", "resolves to 10.1.2.3, " + blocked},
		{"host resolving to 172.16.0.0/12", "https://rfc1918-172.example.com/", "resolves to 172.16.5.4, " + blocked},
		{"host resolving to 192.168.0.0/16", "https://rfc1918-192.example.com/", "resolves to 192.168.1.1, " + blocked},
		{"host resolving to unique local", "https://ula.example.com/", "resolves to fd12:3456::1, " + blocked},
		{"host resolving to IPv6 link-local", "https://linklocal6.example.com/", "resolves to fe80::1, " + blocked},
		{"host resolving to cloud metadata", "https://metadata.example.com/", "resolves to 169.254.169.254, " + blocked},
		{"host resolving to IPv4-mapped loopback", "https://mapped.example.com/", "resolves to 127.0.0.1, " + blocked},
		{"host resolving to IPv4-mapped metadata", "https://mapped-metadata.example.com/", "resolves to 169.254.169.254, " + blocked},
		{"host resolving to CGNAT", "https://cgnat.example.com/", "resolves to 100.64.0.1, " + blocked},
		{"host resolving to unspecified", "https://zero.example.com/", "resolves to 0.0.0.0, " + blocked},
		{"host resolving to multicast", "https://multicast.example.com/", "resolves to 224.0.0.251, " + blocked},
		{"host resolving to NAT64 private", "https://nat64.example.com/", "resolves to 64:ff9b::a01:203, " + blocked},
		{"host resolving to 6to4 loopback", "https://sixtofour.example.com/", "resolves to 2002:7f00:1::1, " + blocked},
		{"host with one private answer", "https://mixed.example.com/", "resolves to 10.0.0.1, " + blocked},
		{"unknown host", "https://missing.example.com/", "The host name missing.example.com was not found"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dialer := &recordingDialer{}
			f := &Fetcher{Dial: dialer.Dial, Resolver: resolver}

			_, err := f.Fetch(context.Background(), tt.url)

			var fetchErr *FetchError
			if !errors.As(err, &fetchErr) {
				t.Fatalf("Fetch error = %v, want a *FetchError", err)
			}
			if !strings.Contains(fetchErr.Error(), tt.want) {
				t.Errorf("Fetch error = %q, want it to contain %q", fetchErr.Error(), tt.want)
			}
			if got := dialer.addrs(); len(got) != 0 {
				t.Errorf("dialed %v, want no connection attempt", got)
			}
		})
	}
}

func TestFetchRedirects(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/metadata", metadataHandler())
	mux.HandleFunc("/hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		next := "/metadata"
		if n > 1 {
			next = fmt.Sprintf("/hops/%d", n-1)
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	mux.HandleFunc("/to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://internal.example.com/metadata", http.StatusFound)
	})
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://idp.example.com/metadata", http.StatusMovedPermanently)
	})
	srv, pool, _ := newTestServer(t, mux)
	resolver := newMapResolver(map[string][]string{
		"idp.example.com":      {publicTestAddr},
		"internal.example.com": {"10.0.0.7"},
	})

	tests := []struct {
		name       string
		path       string
		wantErr    string
		wantDialed int
	}{
		{name: "three redirects are followed", path: "/hops/3", wantDialed: 4},
		{name: "four redirects are too many", path: "/hops/4", wantErr: "redirects more than 3 times", wantDialed: 4},
		{name: "redirect to a private address", path: "/to-private", wantErr: "leads to internal.example.com, which resolves to 10.0.0.7", wantDialed: 1},
		{name: "redirect to http", path: "/to-http", wantErr: "redirects to http://idp.example.com, which is not a plain https URL", wantDialed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, dialer := publicFetcher(srv, pool, resolver)

			body, err := f.Fetch(context.Background(), "https://idp.example.com"+tt.path)

			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Fetch: %v (cause: %v)", err, errors.Unwrap(err))
			case tt.wantErr == "" && string(body) != testMetadataBody:
				t.Errorf("body = %q, want %q", body, testMetadataBody)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Fetch error = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, addr := range dialer.addrs() {
				if addr != publicTestAddr+":443" {
					t.Errorf("dialed %s, want only %s:443", addr, publicTestAddr)
				}
			}
			if got := len(dialer.addrs()); got != tt.wantDialed {
				t.Errorf("dialed %d times, want %d", got, tt.wantDialed)
			}
		})
	}
}

func TestFetchChecksEachDialAgainstRebinding(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/metadata", metadataHandler())
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/metadata", http.StatusFound)
	})
	srv, pool, _ := newTestServer(t, mux)
	resolver := newMapResolver(nil)
	resolver.answers["idp.example.com"] = [][]string{{publicTestAddr}, {"127.0.0.1"}}
	f, dialer := publicFetcher(srv, pool, resolver)

	_, err := f.Fetch(context.Background(), "https://idp.example.com/start")

	if err == nil || !strings.Contains(err.Error(), "which resolves to 127.0.0.1") {
		t.Errorf("Fetch error = %v, want the second lookup's loopback address rejected", err)
	}
	if diff := cmp.Diff([]string{publicTestAddr + ":443"}, dialer.addrs()); diff != "" {
		t.Errorf("dialed addresses mismatch (-want +got):\n%s", diff)
	}
}

func TestFetchResponseLimits(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/exact", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxMetadataBytes)))
	})
	mux.HandleFunc("/too-large", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxMetadataBytes+1)))
	})
	mux.HandleFunc("/too-large-chunked", func(w http.ResponseWriter, _ *http.Request) {
		for range 9 {
			w.Write([]byte(strings.Repeat("x", 128<<10)))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv, pool, _ := newTestServer(t, mux)
	resolver := newMapResolver(map[string][]string{"idp.example.com": {publicTestAddr}})

	tests := []struct {
		name    string
		path    string
		wantLen int
		wantErr string
	}{
		{name: "body of exactly the limit", path: "/exact", wantLen: MaxMetadataBytes},
		{name: "body over the limit", path: "/too-large", wantErr: "larger than the 1024 KB gatehouse accepts"},
		{name: "chunked body over the limit", path: "/too-large-chunked", wantErr: "larger than the 1024 KB gatehouse accepts"},
		{name: "not found status", path: "/missing", wantErr: "idp.example.com returned HTTP status 404 Not Found instead of the metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, _ := publicFetcher(srv, pool, resolver)

			body, err := f.Fetch(context.Background(), "https://idp.example.com"+tt.path)

			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if len(body) != tt.wantLen {
					t.Errorf("body length = %d, want %d", len(body), tt.wantLen)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Fetch error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	srv, pool, _ := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	f, _ := publicFetcher(srv, pool, newMapResolver(map[string][]string{"idp.example.com": {publicTestAddr}}))
	f.Timeout = 200 * time.Millisecond

	start := time.Now()
	_, err := f.Fetch(context.Background(), "https://idp.example.com/slow")

	if err == nil || !strings.Contains(err.Error(), "idp.example.com did not send the metadata within 200ms") {
		t.Errorf("Fetch error = %v, want a timeout message", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Fetch took %s, want about 200ms", elapsed)
	}
}

func TestFetchUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t, metadataHandler())
	f, _ := publicFetcher(srv, nil, newMapResolver(map[string][]string{"idp.example.com": {publicTestAddr}}))

	_, err := f.Fetch(context.Background(), "https://idp.example.com/metadata")

	if err == nil || !strings.Contains(err.Error(), "The https certificate of idp.example.com could not be verified") {
		t.Errorf("Fetch error = %v, want a certificate message", err)
	}
}

func TestFetchErrorKeepsCause(t *testing.T) {
	t.Parallel()
	f := &Fetcher{Dial: (&recordingDialer{}).Dial}

	_, err := f.Fetch(context.Background(), "https://10.0.0.1/metadata")

	var blocked *blockedAddressError
	if !errors.As(err, &blocked) {
		t.Errorf("errors.As(%v, *blockedAddressError) = false, want the cause kept", err)
	}
	var fetchErr *FetchError
	if !errors.As(err, &fetchErr) {
		t.Fatalf("Fetch error = %v, want a *FetchError", err)
	}
	if got := fetchErr.Problem(); got.Field != "metadata_url" || got.Severity != SeverityError || got.Message != fetchErr.Message {
		t.Errorf("Problem() = %+v, want an error on metadata_url with the message", got)
	}
}

func TestFetcherControlRejectsBlockedAddress(t *testing.T) {
	t.Parallel()
	f := &Fetcher{}

	if err := f.control("tcp4", "127.0.0.1:443", nil); err == nil {
		t.Error("control(127.0.0.1:443) = nil, want an error")
	}
	if err := f.control("tcp6", "[::ffff:169.254.169.254]:443", nil); err == nil {
		t.Error("control([::ffff:169.254.169.254]:443) = nil, want an error")
	}
	if err := f.control("tcp4", publicTestAddr+":443", nil); err != nil {
		t.Errorf("control(%s:443) = %v, want nil", publicTestAddr, err)
	}
}

func TestIsBlockedAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.0.1", true},
		{"fc00::1", true},
		{"fdff::1", true},
		{"169.254.169.254", true},
		{"fe80::1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"224.0.0.1", true},
		{"ff02::1", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"255.255.255.255", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::127.0.0.1", true},
		{"64:ff9b::7f00:1", true},
		{"2002:a00:1::1", true},
		{"fec0::1", true},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"8.8.8.8", false},
		{"203.0.113.10", false},
		{"2606:4700::1111", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false},
	}
	for _, tt := range tests {
		if got := isBlockedAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("isBlockedAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
