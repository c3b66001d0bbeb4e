package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// testMail is one message that mailCatcher accepted, with its MIME parts
// decoded.
type testMail struct {
	From    string   // envelope sender
	To      []string // envelope recipients
	Raw     []byte   // the message as sent over DATA
	Subject string   // decoded from RFC 2047 encoded-words
	Text    string   // the text/plain part, transfer encoding removed
	HTML    string   // the text/html part, if any
}

// linkPattern matches the absolute URLs in a text body.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Links returns the absolute URLs of the text body, in order.
func (m testMail) Links() []string {
	return linkPattern.FindAllString(m.Text, -1)
}

// mailCatcher is an SMTP server on 127.0.0.1 without TLS or AUTH that
// accepts every message and passes it to the test on a channel.
type mailCatcher struct {
	// URL is the SMTP_URL that makes gatehouse deliver here.
	URL string

	t        *testing.T
	server   *smtp.Server
	incoming chan testMail
	waiting  []testMail // received, but not yet taken by Next

	mu  sync.Mutex
	all []testMail
}

// startMailCatcher starts the server on a free port and stops it when the
// test ends.
func startMailCatcher(t *testing.T) *mailCatcher {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	c := &mailCatcher{
		URL:      "smtp://" + listener.Addr().String() + "?starttls=none",
		t:        t,
		incoming: make(chan testMail, 64),
	}
	c.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &catcherSession{catcher: c}, nil
	}))
	c.server.Domain = "localhost"
	c.server.MaxMessageBytes = 1 << 20
	c.server.ReadTimeout = 10 * time.Second
	c.server.WriteTimeout = 10 * time.Second
	c.server.ErrorLog = catcherLog{t}
	go c.server.Serve(listener)
	t.Cleanup(func() { c.server.Close() })
	return c
}

// Next returns the first message, received now or within timeout, whose
// subject contains subject. Messages it passes over stay for later calls,
// so the test does not depend on the order of one batch of mail.
func (c *mailCatcher) Next(subject string, timeout time.Duration) (testMail, error) {
	deadline := time.After(timeout)
	for {
		for i, m := range c.waiting {
			if strings.Contains(m.Subject, subject) {
				c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
				return m, nil
			}
		}
		select {
		case m := <-c.incoming:
			c.waiting = append(c.waiting, m)
		case <-deadline:
			return testMail{}, fmt.Errorf("no mail with subject %q within %s; received and not yet taken: %s",
				subject, timeout, subjects(c.waiting))
		}
	}
}

// All returns every message received so far.
func (c *mailCatcher) All() []testMail {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]testMail(nil), c.all...)
}

func (c *mailCatcher) accept(m testMail) {
	c.mu.Lock()
	c.all = append(c.all, m)
	c.mu.Unlock()
	c.incoming <- m
}

func subjects(mails []testMail) string {
	if len(mails) == 0 {
		return "none"
	}
	quoted := make([]string, len(mails))
	for i, m := range mails {
		quoted[i] = fmt.Sprintf("%q", m.Subject)
	}
	return strings.Join(quoted, ", ")
}

// catcherSession is one SMTP connection to mailCatcher.
type catcherSession struct {
	catcher *mailCatcher
	from    string
	to      []string
}

func (s *catcherSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *catcherSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data accepts the message even when its MIME structure is broken, and
// reports that as a test failure instead, because a rejection would only
// make gatehouse retry the same message.
func (s *catcherSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parseTestMail(raw)
	if err != nil {
		s.catcher.t.Errorf("parse mail to %v: %v\n%s", s.to, err, raw)
	}
	m.From, m.To = s.from, s.to
	s.catcher.accept(m)
	return nil
}

func (s *catcherSession) Reset() { s.from, s.to = "", nil }

func (s *catcherSession) Logout() error { return nil }

// parseTestMail decodes the subject and the text and HTML bodies of a
// single-part or multipart/alternative message.
func parseTestMail(raw []byte) (testMail, error) {
	m := testMail{Raw: raw}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("read message: %w", err)
	}
	m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return m, fmt.Errorf("decode subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return m, fmt.Errorf("parse Content-Type: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return m, m.addPart(mediaType, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}

	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextRawPart()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return m, fmt.Errorf("read MIME part: %w", err)
		}
		partType, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return m, fmt.Errorf("parse part Content-Type: %w", err)
		}
		if err := m.addPart(partType, part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
			return m, err
		}
	}
}

// addPart stores a text/plain or text/html body and ignores other parts.
func (m *testMail) addPart(mediaType, transferEncoding string, body io.Reader) error {
	switch strings.ToLower(transferEncoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("decode %s body (%s): %w", mediaType, transferEncoding, err)
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

// catcherLog sends the SMTP server's errors to the test log.
type catcherLog struct{ t *testing.T }

func (l catcherLog) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }

func (l catcherLog) Println(v ...any) { l.t.Log(append([]any{"smtp server:"}, v...)...) }
