package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/secrets"
)

// config is every setting gatehouse reads, all from the environment, read
// once here. Commands ask only for the settings they use.
type config struct {
	Env         string // "production" (JSON logs) or "development" (text logs)
	DatabaseURL string
	Addr        string
	BaseURL     *url.URL
	Keyring     *secrets.Keyring
	SMTPURL     string
	MailFrom    string
	// TrustedProxies are the addresses and CIDR ranges of the load
	// balancers whose X-Forwarded-For header names the client. Without
	// them the client is the TCP peer, so a client cannot choose the
	// address that rate limits and the audit trail see.
	TrustedProxies []string
}

// LogValue prints the configuration without secrets: the database URL
// without its password, no SMTP credentials and only the master key's ID.
func (c config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("env", c.Env), slog.String("addr", c.Addr)}
	if c.DatabaseURL != "" {
		attrs = append(attrs, slog.String("database", redactURL(c.DatabaseURL)))
	}
	if c.BaseURL != nil {
		attrs = append(attrs, slog.String("base_url", c.BaseURL.String()))
	}
	if c.Keyring != nil {
		attrs = append(attrs, slog.String("master_key_id", c.Keyring.CurrentID()))
	}
	if len(c.TrustedProxies) > 0 {
		attrs = append(attrs, slog.String("trusted_proxies", strings.Join(c.TrustedProxies, ",")))
	}
	attrs = append(attrs, slog.Bool("smtp", c.SMTPURL != ""))
	if c.SMTPURL != "" {
		attrs = append(attrs, slog.String("smtp_url", redactURL(c.SMTPURL)))
	}
	return slog.GroupValue(attrs...)
}

func (c config) development() bool { return c.Env == "development" }

// need names the settings a command requires.
type need int

const (
	needDatabase need = 1 << iota
	needBaseURL
	needKeys
	needServer
)

// loadConfig reads the environment. getenv is os.Getenv outside tests.
func loadConfig(getenv func(string) string, needs need) (config, error) {
	c := config{Env: getenv("GATEHOUSE_ENV"), Addr: getenv("GATEHOUSE_ADDR")}
	if c.Env == "" {
		c.Env = "production"
	}
	if c.Env != "production" && c.Env != "development" {
		return c, fmt.Errorf("GATEHOUSE_ENV must be production or development, not %q", c.Env)
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}

	var errs []error
	var err error
	if needs&needDatabase != 0 {
		c.DatabaseURL = getenv("DATABASE_URL")
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("DATABASE_URL is required (for example postgres://user:password@host:5432/gatehouse)"))
		}
	}
	if needs&(needBaseURL|needServer) != 0 {
		u, err := parseBaseURL(getenv("GATEHOUSE_BASE_URL"), c)
		errs = append(errs, err)
		c.BaseURL = u
	}
	if needs&(needKeys|needServer) != 0 {
		ring, err := loadKeyring(getenv)
		errs = append(errs, err)
		c.Keyring = ring
	}
	if needs&needServer != 0 {
		errs = append(errs, c.loadMail(getenv))
		c.TrustedProxies, err = parseTrustedProxies(getenv("GATEHOUSE_TRUSTED_PROXIES"))
		errs = append(errs, err)
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("GATEHOUSE_ADDR %q is not host:port: %w", c.Addr, err))
		}
	}
	return c, errors.Join(errs...)
}

// parseBaseURL checks GATEHOUSE_BASE_URL. In development it defaults to
// http://localhost on the listening port.
func parseBaseURL(raw string, c config) (*url.URL, error) {
	if raw == "" && c.development() {
		_, port, _ := net.SplitHostPort(c.Addr)
		raw = "http://localhost:" + port
	}
	if raw == "" {
		return nil, errors.New("GATEHOUSE_BASE_URL is required: the public URL of gatehouse, such as https://sso.example.com")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("GATEHOUSE_BASE_URL %q must be an absolute http or https URL without query or fragment", raw)
	}
	if u.Scheme == "http" && !c.development() && !isLocalHost(u.Hostname()) {
		return nil, fmt.Errorf("GATEHOUSE_BASE_URL %q must use https outside development", raw)
	}
	return u, nil
}

func isLocalHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadKeyring reads GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE, and
// GATEHOUSE_OLD_MASTER_KEYS, a comma-separated list of retired keys that
// still open what they sealed.
func loadKeyring(getenv func(string) string) (*secrets.Keyring, error) {
	encoded, name := getenv("GATEHOUSE_MASTER_KEY"), "GATEHOUSE_MASTER_KEY"
	if file := getenv("GATEHOUSE_MASTER_KEY_FILE"); file != "" {
		if encoded != "" {
			return nil, errors.New("set GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE, not both")
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_MASTER_KEY_FILE: %w", err)
		}
		encoded, name = string(data), "GATEHOUSE_MASTER_KEY_FILE"
	}
	if encoded == "" {
		return nil, errors.New("GATEHOUSE_MASTER_KEY is required: base64 of 32 random bytes (make one with `gatehouse keys generate`)")
	}
	current, err := secrets.ParseMasterKey(encoded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	var old []secrets.MasterKey
	for _, part := range strings.Split(getenv("GATEHOUSE_OLD_MASTER_KEYS"), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, err := secrets.ParseMasterKey(part)
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_OLD_MASTER_KEYS: %w", err)
		}
		old = append(old, k)
	}
	return secrets.NewKeyring(current, old...), nil
}

// loadMail reads SMTP_URL and MAIL_FROM. Without SMTP_URL mail stays in
// the outbox, which staff read at /staff/outbox.
func (c *config) loadMail(getenv func(string) string) error {
	c.SMTPURL = getenv("SMTP_URL")
	c.MailFrom = getenv("MAIL_FROM")
	if c.SMTPURL == "" {
		return nil
	}
	if c.MailFrom == "" {
		return errors.New("MAIL_FROM is required when SMTP_URL is set, for example \"Gatehouse <sso@example.com>\"")
	}
	if _, err := url.Parse(c.SMTPURL); err != nil {
		return errors.New("SMTP_URL is not a valid URL, for example smtp://user:password@mail.example.com:587")
	}
	return nil
}

// parseTrustedProxies reads GATEHOUSE_TRUSTED_PROXIES, a comma-separated
// list of IP addresses and CIDR ranges.
func parseTrustedProxies(raw string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(part); err != nil && net.ParseIP(part) == nil {
			return nil, fmt.Errorf("GATEHOUSE_TRUSTED_PROXIES: %q is not an IP address or CIDR range such as 10.0.0.0/8", part)
		}
		out = append(out, part)
	}
	return out, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
