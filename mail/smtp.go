package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds each of the two phases of one delivery: connecting
// with EHLO, STARTTLS and AUTH, then transferring the message.
const smtpTimeout = 30 * time.Second

// SMTPSender delivers messages to one SMTP server with go-mail, opening a
// connection per message. Its Send method is the Worker's SendFunc. The
// password it holds never appears in its log value or its errors.
type SMTPSender struct {
	options   []gomail.Option // from SMTP_URL, with the credentials
	tlsConfig *tls.Config
	from      *netmail.Address
	domain    string // From address's domain, used in Message-ID
	endpoint  smtpEndpoint
}

// smtpEndpoint is the part of SMTP_URL that is safe to log.
type smtpEndpoint struct {
	host     string
	port     int
	security string // "smtps", or the STARTTLS mode: "required", "opportunistic" or "none"
	auth     string // SMTP AUTH mechanism, "" without credentials
}

// NewSMTPSender configures delivery from SMTP_URL and MAIL_FROM. The URL
// has the form
//
//	smtp://[user[:password]@]host[:port][?starttls=required|opportunistic|none][&auth=MECHANISM]
//	smtps://[user[:password]@]host[:port][?auth=MECHANISM]
//
// smtp:// connects in plain text on port 587 by default and upgrades with
// STARTTLS: "required" (the default) refuses a server without STARTTLS,
// "opportunistic" uses it when offered and "none" never does. smtps://
// uses TLS from the first byte, on port 465 by default. User and password
// are percent-encoded. With credentials, auth picks the SMTP AUTH
// mechanism: "auto" (the default) takes the strongest the server offers,
// and sends a plain-text password only over TLS. "plain", "login",
// "cram-md5", "scram-sha-1" and "scram-sha-256" force one mechanism. Go-mail
// refuses PLAIN and LOGIN without TLS except to localhost.
//
// from is the From address, with or without a display name. Errors name the
// variable that is wrong and never repeat the password.
func NewSMTPSender(smtpURL, from string) (*SMTPSender, error) {
	sender, err := parseMailFrom(from)
	if err != nil {
		return nil, err
	}
	endpoint, user, password, err := parseSMTPURL(smtpURL)
	if err != nil {
		return nil, err
	}

	s := &SMTPSender{
		options:   clientOptions(endpoint, user, password),
		tlsConfig: &tls.Config{ServerName: endpoint.host, MinVersion: tls.VersionTLS12},
		from:      sender,
		domain:    sender.Address[strings.LastIndexByte(sender.Address, '@')+1:],
		endpoint:  endpoint,
	}
	if _, err := s.newClient(context.Background()); err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return s, nil
}

func parseMailFrom(from string) (*netmail.Address, error) {
	if from == "" {
		return nil, fmt.Errorf("MAIL_FROM is not set: set it to the sender address, like Gatehouse <noreply@example.com>")
	}
	address, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM is invalid: %w", err)
	}
	return address, nil
}

// parseSMTPURL returns what SMTP_URL configures. Its errors never include
// the URL, which may contain a password.
func parseSMTPURL(raw string) (endpoint smtpEndpoint, user, password string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.Opaque != "" {
		return smtpEndpoint{}, "", "", fmt.Errorf("SMTP_URL is invalid: use smtp://user:password@host:port or smtps://...")
	}
	if u.Path != "" && u.Path != "/" {
		return smtpEndpoint{}, "", "", fmt.Errorf("SMTP_URL has a path: remove it")
	}

	endpoint.host = u.Hostname()
	switch u.Scheme {
	case "smtp":
		endpoint.port, endpoint.security = gomail.DefaultPortTLS, "required"
	case "smtps":
		endpoint.port, endpoint.security = gomail.DefaultPortSSL, "smtps"
	default:
		return smtpEndpoint{}, "", "", fmt.Errorf("SMTP_URL has scheme %q: use smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		endpoint.port, err = strconv.Atoi(p)
		if err != nil || endpoint.port < 1 || endpoint.port > 65535 {
			return smtpEndpoint{}, "", "", fmt.Errorf("SMTP_URL has invalid port %q", p)
		}
	}

	if u.User != nil {
		user = u.User.Username()
		password, _ = u.User.Password()
		endpoint.auth = "auto"
	}
	if err := applyQuery(&endpoint, u.Query()); err != nil {
		return smtpEndpoint{}, "", "", err
	}
	return endpoint, user, password, nil
}

// applyQuery reads SMTP_URL's starttls and auth parameters into endpoint.
func applyQuery(endpoint *smtpEndpoint, query url.Values) error {
	for name, values := range query {
		value := values[len(values)-1]
		switch {
		case name == "starttls" && endpoint.security == "smtps":
			return fmt.Errorf("SMTP_URL: starttls does not apply to smtps://, which uses TLS throughout")
		case name == "starttls" && (value == "required" || value == "opportunistic" || value == "none"):
			endpoint.security = value
		case name == "starttls":
			return fmt.Errorf("SMTP_URL has starttls=%q: use required, opportunistic or none", value)
		case name == "auth" && endpoint.auth == "":
			return fmt.Errorf("SMTP_URL has auth=%q but no user name: add user:password@ before the host", value)
		case name == "auth":
			if _, ok := authMechanisms[value]; !ok {
				return fmt.Errorf("SMTP_URL has auth=%q: use auto, plain, login, cram-md5, scram-sha-1 or scram-sha-256", value)
			}
			endpoint.auth = value
		default:
			return fmt.Errorf("SMTP_URL has unknown parameter %q: use starttls or auth", name)
		}
	}
	return nil
}

// authMechanisms maps SMTP_URL's auth values to go-mail's.
var authMechanisms = map[string]gomail.SMTPAuthType{
	"auto":          gomail.SMTPAuthAutoDiscover,
	"plain":         gomail.SMTPAuthPlain,
	"login":         gomail.SMTPAuthLogin,
	"cram-md5":      gomail.SMTPAuthCramMD5,
	"scram-sha-1":   gomail.SMTPAuthSCRAMSHA1,
	"scram-sha-256": gomail.SMTPAuthSCRAMSHA256,
}

func clientOptions(endpoint smtpEndpoint, user, password string) []gomail.Option {
	options := []gomail.Option{gomail.WithPort(endpoint.port)}
	switch endpoint.security {
	case "smtps":
		options = append(options, gomail.WithSSL())
	case "required":
		options = append(options, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "opportunistic":
		options = append(options, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "none":
		options = append(options, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if endpoint.auth != "" {
		options = append(options,
			gomail.WithSMTPAuth(authMechanisms[endpoint.auth]),
			gomail.WithUsername(user),
			gomail.WithPassword(password))
	}
	return options
}

// LogValue describes the server without credentials, for the start-up log.
func (s *SMTPSender) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", s.endpoint.host),
		slog.Int("port", s.endpoint.port),
		slog.String("tls", s.endpoint.security),
		slog.String("auth", s.endpoint.auth),
	)
}

// String describes the server without credentials.
func (s *SMTPSender) String() string {
	return fmt.Sprintf("smtp server %s:%d (tls %s)", s.endpoint.host, s.endpoint.port, s.endpoint.security)
}

// Send delivers m with its text body, or as multipart/alternative when m
// also has an HTML body. It returns nil once the server accepted the
// message. ctx's deadline bounds the whole delivery, but go-mail notices
// a cancellation only while connecting.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := s.newMsg(m)
	if err != nil {
		return err
	}
	client, err := s.newClient(ctx)
	if err != nil {
		return err
	}

	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to SMTP server: %w", err)
	}
	// The server has accepted or rejected the message before QUIT, so a
	// failed QUIT must not turn a delivery into a retry and a duplicate.
	defer func() {
		if err := client.CloseWithSMTPClient(conn); err != nil {
			conn.Close()
		}
	}()

	if err := client.SendWithSMTPClient(conn, msg); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

func (s *SMTPSender) newMsg(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("set recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(randomID() + "@" + s.domain)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// newClient returns a go-mail client whose two phase timeouts together fit
// in ctx's deadline, because go-mail applies ctx only while connecting.
func (s *SMTPSender) newClient(ctx context.Context) (*gomail.Client, error) {
	timeout := smtpTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)/2)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("send mail: %w", context.DeadlineExceeded)
	}

	options := append(slices.Clone(s.options), gomail.WithTimeout(timeout), gomail.WithTLSConfig(s.tlsConfig))
	client, err := gomail.NewClient(s.endpoint.host, options...)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP client: %w", err)
	}
	return client, nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
