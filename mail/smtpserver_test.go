package mail

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// receivedMail is one message that the test SMTP server accepted.
type receivedMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the message came over TLS
	User string // the SMTP AUTH user, empty without AUTH
}

// testSMTPServer is an SMTP server on 127.0.0.1 that stores what it
// accepts. While reject is set, it rejects DATA with that error.
type testSMTPServer struct {
	addr   string
	server *smtp.Server

	// user and password, when set, make the server offer AUTH PLAIN.
	user, password string

	mu       sync.Mutex
	received []receivedMail
	reject   *smtp.SMTPError
	stall    chan struct{} // when set, DATA waits until it is closed
}

// serverOptions configure startSMTPServer.
type serverOptions struct {
	addr           string // listen address; empty for a free port
	tls            *tls.Config
	user, password string
}

func startSMTPServer(t *testing.T, options serverOptions) *testSMTPServer {
	t.Helper()
	addr := options.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	return serveSMTP(t, listener, options)
}

// serveSMTP serves SMTP on listener until the test ends. options.addr is
// ignored; a TLS listener gives implicit TLS.
func serveSMTP(t *testing.T, listener net.Listener, options serverOptions) *testSMTPServer {
	t.Helper()
	s := &testSMTPServer{addr: listener.Addr().String(), user: options.user, password: options.password}
	s.server = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.server.Domain = "localhost"
	s.server.AllowInsecureAuth = options.tls == nil
	s.server.TLSConfig = options.tls
	s.server.ErrorLog = testLogger{t}
	go s.server.Serve(listener)
	t.Cleanup(func() { s.server.Close() })
	return s
}

// freeAddr returns a loopback address on which nothing listens, for a
// server that starts later.
func freeAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := listener.Addr().String()
	listener.Close()
	return addr
}

func (s *testSMTPServer) setReject(err *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = err
}

// stallData makes DATA wait until the test ends.
func (s *testSMTPServer) stallData(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = make(chan struct{})
	t.Cleanup(func() { close(s.stall) })
}

func (s *testSMTPServer) messages() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.received...)
}

func (s *testSMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &testSession{server: s, tls: isTLS}, nil
}

// testSession is one SMTP connection to testSMTPServer.
type testSession struct {
	server *testSMTPServer
	tls    bool
	user   string
	from   string
	to     []string
}

func (s *testSession) AuthMechanisms() []string {
	if s.server.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != s.server.user || password != s.server.password {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	var data bytes.Buffer
	if _, err := io.Copy(&data, r); err != nil {
		return err
	}
	s.server.mu.Lock()
	stall := s.server.stall
	s.server.mu.Unlock()
	if stall != nil {
		<-stall
	}

	s.server.mu.Lock()
	defer s.server.mu.Unlock()
	if s.server.reject != nil {
		return s.server.reject
	}
	s.server.received = append(s.server.received, receivedMail{
		From: s.from, To: s.to, Data: data.Bytes(), TLS: s.tls, User: s.user,
	})
	return nil
}

func (s *testSession) Reset() { s.from, s.to = "", nil }

func (s *testSession) Logout() error { return nil }

// testLogger sends the SMTP server's errors to the test log.
type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }

func (l testLogger) Println(v ...any) { l.t.Log(append([]any{"smtp server:"}, v...)...) }
