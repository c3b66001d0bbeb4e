package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewSMTPSenderParsesURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want smtpEndpoint
	}{
		{"smtp defaults", "smtp://mail.example.com", smtpEndpoint{host: "mail.example.com", port: 587, security: "required"}},
		{"smtps defaults", "smtps://mail.example.com", smtpEndpoint{host: "mail.example.com", port: 465, security: "smtps"}},
		{"credentials pick auto auth", "smtp://user:p%40ss@mail.example.com:2525", smtpEndpoint{host: "mail.example.com", port: 2525, security: "required", auth: "auto"}},
		{"opportunistic STARTTLS", "smtp://mail.example.com?starttls=opportunistic", smtpEndpoint{host: "mail.example.com", port: 587, security: "opportunistic"}},
		{"no STARTTLS", "smtp://127.0.0.1:1025?starttls=none", smtpEndpoint{host: "127.0.0.1", port: 1025, security: "none"}},
		{"forced mechanism", "smtps://user:pass@mail.example.com?auth=login", smtpEndpoint{host: "mail.example.com", port: 465, security: "smtps", auth: "login"}},
		{"IPv6 host", "smtp://[::1]:25?starttls=none", smtpEndpoint{host: "::1", port: 25, security: "none"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sender, err := NewSMTPSender(tc.url, testFrom)
			if err != nil {
				t.Fatalf("NewSMTPSender: %v", err)
			}
			if diff := cmp.Diff(tc.want, sender.endpoint, cmp.AllowUnexported(smtpEndpoint{})); diff != "" {
				t.Errorf("endpoint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSMTPSenderRejectsInvalidSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, from, want string
	}{
		{"empty URL", "", testFrom, "SMTP_URL is invalid"},
		{"unknown scheme", "http://user:hunter2@mail.example.com", testFrom, `SMTP_URL has scheme "http"`},
		{"bad port", "smtp://user:hunter2@mail.example.com:99999", testFrom, `invalid port "99999"`},
		{"path", "smtp://mail.example.com/inbox", testFrom, "SMTP_URL has a path"},
		{"unknown STARTTLS mode", "smtp://mail.example.com?starttls=yes", testFrom, `starttls="yes"`},
		{"STARTTLS with smtps", "smtps://mail.example.com?starttls=none", testFrom, "does not apply to smtps"},
		{"unknown parameter", "smtp://user:hunter2@mail.example.com?tls=on", testFrom, `unknown parameter "tls"`},
		{"auth without user", "smtp://mail.example.com?auth=plain", testFrom, "no user name"},
		{"unknown mechanism", "smtp://user:hunter2@mail.example.com?auth=xoauth2", testFrom, `auth="xoauth2"`},
		{"missing MAIL_FROM", "smtp://mail.example.com", "", "MAIL_FROM is not set"},
		{"invalid MAIL_FROM", "smtp://mail.example.com", "gatehouse", "MAIL_FROM is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSMTPSender(tc.url, tc.from)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}
}

func TestSMTPSenderHidesPassword(t *testing.T) {
	t.Parallel()
	sender, err := NewSMTPSender("smtps://user:hunter2@mail.example.com", testFrom)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}

	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("smtp", "sender", sender)
	printed := fmt.Sprintf("%v %+v %s", sender, sender, logs.String())
	if strings.Contains(printed, "hunter2") {
		t.Errorf("printed sender contains the password: %s", printed)
	}
	if !strings.Contains(logs.String(), "sender.host=mail.example.com sender.port=465 sender.tls=smtps sender.auth=auto") {
		t.Errorf("log value = %s, want host, port, tls and auth", logs.String())
	}
}

func TestSMTPSenderStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLSConfigs(t)
	server := startSMTPServer(t, serverOptions{tls: serverTLS, user: "gatehouse", password: "s3cret pass"})
	sender, err := NewSMTPSender("smtp://gatehouse:s3cret%20pass@"+server.addr+"?starttls=required", testFrom)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	sender.tlsConfig = clientTLS

	m := Message{Kind: "test", To: "ada@example.com", Subject: "Hello", Text: "Hello over TLS."}
	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := server.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if !got[0].TLS || got[0].User != "gatehouse" {
		t.Errorf("received over TLS %v as user %q, want TLS as gatehouse", got[0].TLS, got[0].User)
	}
	mail := parseMail(t, got[0].Data)
	if mail.ContentType != "text/plain" || mail.Subject != "Hello" {
		t.Errorf("received %s with subject %q, want text/plain with subject Hello", mail.ContentType, mail.Subject)
	}
}

func TestSMTPSenderRequiredStartTLSMissing(t *testing.T) {
	t.Parallel()
	server := startSMTPServer(t, serverOptions{})
	sender, err := NewSMTPSender("smtp://"+server.addr, testFrom)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}

	m := Message{Kind: "test", To: "ada@example.com", Subject: "Hello", Text: "Hello."}
	err = sender.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send error = %v, want one about missing STARTTLS", err)
	}
	if n := len(server.messages()); n != 0 {
		t.Errorf("server received %d messages in plain text, want 0", n)
	}
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLSConfigs(t)
	listener, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	server := serveSMTP(t, listener, serverOptions{})
	sender, err := NewSMTPSender("smtps://"+server.addr, testFrom)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	sender.tlsConfig = clientTLS

	m := Message{Kind: "test", To: "ada@example.com", Subject: "Hello", Text: "Hello.", HTML: "<p>Hello.</p>"}
	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := server.messages(); len(got) != 1 || !got[0].TLS {
		t.Errorf("server received %d messages (TLS %v), want 1 over TLS", len(got), len(got) == 1 && got[0].TLS)
	}
}

// testTLSConfigs returns a server configuration with a self-signed
// certificate for 127.0.0.1 and a client configuration that trusts it.
func testTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(certificate)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}
