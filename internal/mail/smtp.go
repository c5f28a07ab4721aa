package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/onstagehq/onstage/internal/config"
)

// ErrNoStartTLS is a relay that does not offer STARTTLS: onstage never sends mail, or
// credentials, over an unencrypted connection.
var ErrNoStartTLS = errors.New("mail: the SMTP relay does not offer STARTTLS")

// defaultSMTPTimeout bounds one delivery when the context has no deadline.
const defaultSMTPTimeout = 30 * time.Second

// SMTP delivers messages through an SMTP relay, always upgrading the connection with
// STARTTLS and authenticating with PLAIN when a username is configured.
type SMTP struct {
	cfg config.Mail
	// tls is the TLS configuration for STARTTLS; nil verifies the relay's certificate
	// against the system roots for cfg.SMTPHost.
	tls *tls.Config
	now func() time.Time
}

// NewSMTP returns a mailer for the relay in cfg.
func NewSMTP(cfg config.Mail) *SMTP {
	return &SMTP{cfg: cfg, now: time.Now}
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := check(m)
	if err != nil {
		return err
	}
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return fmt.Errorf("mail: sender %q: %w", s.cfg.From, err)
	}
	body, err := s.compose(from, m)
	if err != nil {
		return err
	}
	if err := s.deliver(ctx, from.Address, to, body); err != nil {
		return fmt.Errorf("mail: smtp %s: %w", s.addr(), err)
	}
	return nil
}

func (s *SMTP) addr() string {
	port := s.cfg.SMTPPort
	if port == 0 {
		port = 587
	}
	return net.JoinHostPort(s.cfg.SMTPHost, strconv.Itoa(port))
}

func (s *SMTP) deliver(ctx context.Context, from, to string, body []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSMTPTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	// Closing the connection when ctx ends unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.SMTPHost)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return ErrNoStartTLS
	}
	tc := s.tls
	if tc == nil {
		tc = &tls.Config{ServerName: s.cfg.SMTPHost, MinVersion: tls.VersionTLS12}
	}
	if err := c.StartTLS(tc); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.SMTPHost)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose renders m as an RFC 5322 message with a quoted-printable UTF-8 body.
func (s *SMTP) compose(from *mail.Address, m Message) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", messageID(from.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func messageID(from string) string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	domain := "localhost"
	if at := bytes.LastIndexByte([]byte(from), '@'); at >= 0 && at+1 < len(from) {
		domain = from[at+1:]
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}

// helloName is the name onstage greets the relay with: this host's name when it has one.
func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}
