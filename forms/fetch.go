package forms

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Limits of a metadata fetch.
const (
	defaultFetchTimeout = 10 * time.Second
	maxFetchRedirects   = 3
)

// Resolver looks up the IP addresses of a host name; *net.Resolver implements
// it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Fetcher downloads IdP metadata from a URL an IT contact entered. Because
// someone outside chooses the URL, the fetch is limited to https and to public
// IP addresses. Every connection, including one for a redirect, goes to an
// address checked right before dialing. So neither a redirect nor a DNS answer
// that changes between lookups (DNS rebinding) can reach loopback, private,
// link-local (such as the 169.254.169.254 cloud metadata service) or other
// internal addresses.
//
// The zero value is ready to use.
type Fetcher struct {
	// Dial opens the TCP connection to an already checked IP address and
	// port; nil means a net.Dialer, which checks the address once more
	// before connecting.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds the whole fetch, redirects and body included; zero
	// means 10 seconds.
	Timeout time.Duration
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver Resolver

	// allowAddrForTest, when set, lets tests reach addresses the check would
	// reject, such as a test server on loopback.
	allowAddrForTest func(netip.Addr) bool
	// rootCAsForTest, when set, replaces the system roots so tests can trust
	// an httptest server.
	rootCAsForTest *x509.CertPool
}

// FetchError is a failed fetch. Error returns a message that is safe to show
// the IT contact; Unwrap returns the cause, for logs.
type FetchError struct {
	Message string
	Err     error
}

func (e *FetchError) Error() string { return e.Message }

// Unwrap returns the underlying cause of the failure.
func (e *FetchError) Unwrap() error { return e.Err }

// Problem returns the failure as a Problem on the "metadata_url" field.
func (e *FetchError) Problem() Problem {
	return Problem{Field: fieldMetadataURL, Severity: SeverityError, Message: e.Message}
}

// Fetch downloads the document at rawURL and returns its body, at most
// MaxMetadataBytes long. Every error it returns is a *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := parseMetadataURL(rawURL)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, f.timeout())
	defer cancel()

	transport := f.transport()
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: checkRedirect}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &FetchError{Message: invalidURLMessage, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1")

	resp, err := client.Do(req)
	if err != nil {
		return nil, f.describeError(err, u)
	}
	defer resp.Body.Close()

	return f.readBody(resp, u)
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return defaultFetchTimeout
}

// transport returns a transport for one fetch. It uses no proxy from the
// environment, which would bypass the address check, and keeps no connection
// open for later fetches.
func (f *Fetcher) transport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            f.dialChecked,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: f.rootCAsForTest},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// readBody returns the body of a successful response, rejecting one larger
// than MaxMetadataBytes.
func (f *Fetcher) readBody(resp *http.Response, u *url.URL) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{
			Message: fmt.Sprintf("%s returned HTTP status %d %s instead of the metadata. Check the metadata URL "+
				"in your IdP's SAML app settings, or upload the metadata file instead.",
				u.Host, resp.StatusCode, http.StatusText(resp.StatusCode)),
			Err: fmt.Errorf("fetch metadata: status %d", resp.StatusCode),
		}
	}
	if resp.ContentLength > MaxMetadataBytes {
		return nil, tooLargeError(u, fmt.Errorf("fetch metadata: content length %d", resp.ContentLength))
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetadataBytes+1))
	if err != nil {
		return nil, f.describeError(fmt.Errorf("read metadata body: %w", err), u)
	}
	if len(body) > MaxMetadataBytes {
		return nil, tooLargeError(u, errors.New("fetch metadata: body exceeds limit"))
	}
	return body, nil
}

func tooLargeError(u *url.URL, cause error) *FetchError {
	return &FetchError{
		Message: fmt.Sprintf("The document at %s is larger than the %s gatehouse accepts for metadata. "+
			"Check that the URL is the metadata of your IdP's SAML app, not of a whole federation.",
			u.Host, formatSize(MaxMetadataBytes)),
		Err: cause,
	}
}

const invalidURLMessage = "The metadata URL is not a valid URL. Copy it again from your IdP's SAML app settings, " +
	"such as https://idp.example.com/metadata.xml."

// parseMetadataURL checks the URL as entered: absolute, https, with a host
// and without credentials.
func parseMetadataURL(rawURL string) (*url.URL, error) {
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		return nil, &FetchError{Message: "Enter the metadata URL of your IdP's SAML app.", Err: errors.New("empty metadata url")}
	}
	if len(rawURL) > maxURLLength {
		return nil, &FetchError{
			Message: fmt.Sprintf("The metadata URL is longer than the %d characters gatehouse accepts.", maxURLLength),
			Err:     errors.New("metadata url too long"),
		}
	}

	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, &FetchError{Message: invalidURLMessage, Err: fmt.Errorf("parse metadata url: %w", err)}
	case u.Scheme != "https":
		return nil, &FetchError{
			Message: "The metadata URL must start with https://. Gatehouse downloads metadata over https only, " +
				"so that nobody on the way can replace your IdP's certificates.",
			Err: fmt.Errorf("metadata url scheme %q", u.Scheme),
		}
	case u.User != nil:
		return nil, &FetchError{
			Message: "The metadata URL contains a user name or password. Use a metadata URL that needs no sign-in, " +
				"or upload the metadata file instead.",
			Err: errors.New("metadata url has user info"),
		}
	case u.Hostname() == "":
		return nil, &FetchError{Message: invalidURLMessage, Err: errors.New("metadata url has no host")}
	}
	return u, nil
}

// checkRedirect allows at most maxFetchRedirects redirects, each to https.
// The target's address is checked when it is dialed.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxFetchRedirects {
		return &FetchError{
			Message: fmt.Sprintf("The metadata URL redirects more than %d times. Use the final address of the metadata, "+
				"or upload the metadata file instead.", maxFetchRedirects),
			Err: errors.New("too many redirects"),
		}
	}
	if req.URL.Scheme != "https" || req.URL.User != nil {
		return &FetchError{
			Message: fmt.Sprintf("The metadata URL redirects to %s, which is not a plain https URL, so gatehouse "+
				"did not follow it. Use an https metadata URL, or upload the metadata file instead.", req.URL.Scheme+"://"+req.URL.Host),
			Err: errors.New("redirect to non-https url"),
		}
	}
	return nil
}

// blockedPrefixes are address ranges outside the checks of netip.Addr's
// methods that must not be fetched from: they are not publicly routable or
// reach the network gatehouse runs in.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network" (RFC 791)
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast (RFC 1112, RFC 919)
	netip.MustParsePrefix("100::/64"),       // discard (RFC 6666)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation (RFC 8215)
	netip.MustParsePrefix("2001::/32"),      // Teredo (RFC 4380)
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local (RFC 3879)
}

// Prefixes of IPv6 addresses that carry an IPv4 address, which is checked in
// turn. IPv4-mapped addresses (::ffff:0:0/96) are unmapped before any check.
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, IPv4 in the last 32 bits
	ipv4CompatPrefix = netip.MustParsePrefix("::/96")        // RFC 4291, deprecated
	translatedPrefix = netip.MustParsePrefix("::ffff:0:0:0/96")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16") // RFC 3056, IPv4 in bits 16 to 47
)

// isBlockedAddr reports whether addr is loopback, private (RFC 1918, unique
// local fc00::/7), link-local, unspecified, multicast, carrier-grade NAT,
// another non-public range, or an IPv6 form of such an IPv4 address.
func isBlockedAddr(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return true
	}

	if addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() || addr.IsMulticast() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}

	if v4, ok := embeddedIPv4(addr); ok {
		return isBlockedAddr(v4)
	}
	return false
}

// embeddedIPv4 returns the IPv4 address inside a NAT64, IPv4-compatible,
// IPv4-translated or 6to4 IPv6 address.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}

	b := addr.As16()
	switch {
	case nat64Prefix.Contains(addr), ipv4CompatPrefix.Contains(addr), translatedPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFourPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// blockedAddressError is a dial refused because the host resolves to an
// address gatehouse does not fetch from.
type blockedAddressError struct {
	host string
	addr netip.Addr
}

func (e *blockedAddressError) Error() string {
	return fmt.Sprintf("refuse to dial %s: address %s is not public", e.host, e.addr)
}

func (f *Fetcher) allowed(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if f.allowAddrForTest != nil && f.allowAddrForTest(addr) {
		return true
	}
	return !isBlockedAddr(addr)
}

// dialChecked resolves the host of addr, refuses it when any of its addresses
// is not public, and dials the checked addresses in turn. It is the
// transport's DialContext, so it runs for every connection, redirects
// included.
func (f *Fetcher) dialChecked(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("split address %q: %w", addr, err)
	}

	ips, err := f.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if !f.allowed(ip) {
			return nil, &blockedAddressError{host: host, addr: ip}
		}
	}

	var lastErr error
	for _, ip := range ips {
		conn, err := f.dialAddr(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// resolve returns the addresses of host, which may be an IP literal.
func (f *Fetcher) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}

	var resolver Resolver = net.DefaultResolver
	if f.Resolver != nil {
		resolver = f.Resolver
	}
	found, err := resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}

	var ips []netip.Addr
	for _, a := range found {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ips = append(ips, ip.Unmap())
		}
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func (f *Fetcher) dialAddr(ctx context.Context, network, addr string) (net.Conn, error) {
	if f.Dial != nil {
		return f.Dial(ctx, network, addr)
	}
	d := &net.Dialer{Control: f.control}
	return d.DialContext(ctx, network, addr)
}

// control checks, right before connect, the address the socket is about to
// connect to, in case a dial ever reaches an address dialChecked did not
// check.
func (f *Fetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("parse dial address %q: %w", address, err)
	}
	if !f.allowed(ap.Addr()) {
		return &blockedAddressError{host: ap.Addr().String(), addr: ap.Addr()}
	}
	return nil
}

// describeError turns a failed request into a FetchError with a message for
// the IT contact.
func (f *Fetcher) describeError(err error, u *url.URL) *FetchError {
	var fetchErr *FetchError
	if errors.As(err, &fetchErr) {
		return &FetchError{Message: fetchErr.Message, Err: err}
	}

	message := fmt.Sprintf("Gatehouse could not download the metadata from %s. Check the metadata URL, "+
		"or upload the metadata file instead.", u.Host)

	var blocked *blockedAddressError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	switch {
	case errors.As(err, &blocked):
		message = blockedMessage(blocked)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		message = fmt.Sprintf("%s did not send the metadata within %s. Try again later, "+
			"or upload the metadata file instead.", u.Host, f.timeout())
	case errors.As(err, &dnsErr):
		message = fmt.Sprintf("The host name %s was not found. Check the metadata URL for typos.", u.Hostname())
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		message = fmt.Sprintf("The https certificate of %s could not be verified, so gatehouse did not trust the "+
			"download. Use a metadata URL with a publicly trusted certificate, or upload the metadata file instead.", u.Host)
	}
	return &FetchError{Message: message, Err: err}
}

func blockedMessage(e *blockedAddressError) string {
	target := e.addr.String() + ","
	if e.host != e.addr.String() {
		target = e.host + ", which resolves to " + target
	}
	return fmt.Sprintf("The metadata URL leads to %s an internal or non-public network address that gatehouse "+
		"does not connect to. Use a metadata URL on the public internet, or upload the metadata file instead.", target)
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}
