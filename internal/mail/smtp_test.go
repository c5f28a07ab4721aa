package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/config"
)

// fakeRelay is a minimal SMTP server on loopback standing in for an outside mail provider.
// It records what a client did in each session.
type fakeRelay struct {
	ln       net.Listener
	tls      *tls.Config
	startTLS bool // offer STARTTLS

	mu       sync.Mutex
	sessions []session
	wg       sync.WaitGroup
}

type session struct {
	tls       bool
	authPlain string // decoded AUTH PLAIN payload
	from, to  string
	data      string
}

func newFakeRelay(t *testing.T, offerTLS bool) (*fakeRelay, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{ln: ln, startTLS: offerTLS, tls: &tls.Config{Certificates: []tls.Certificate{cert}}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.wg.Wait()
	})
	return r, pool
}

func (r *fakeRelay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func (r *fakeRelay) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	var s session
	defer func() {
		r.mu.Lock()
		r.sessions = append(r.sessions, s)
		r.mu.Unlock()
	}()
	reply := func(lines ...string) { _ = tp.PrintfLine("%s", strings.Join(lines, "\r\n")) }
	reply("220 fake ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250-fake"}
			if r.startTLS && !s.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if s.tls {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250 8BITMIME")
			reply(lines...)
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(c, r.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tp = textproto.NewConn(tc)
			s.tls = true
		case "AUTH":
			_, b64, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(b64)
			s.authPlain = string(raw)
			reply("235 ok")
		case "MAIL":
			s.from = arg
			reply("250 ok")
		case "RCPT":
			s.to = arg
			reply("250 ok")
		case "DATA":
			reply("354 go on")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			s.data = strings.Join(lines, "\n")
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown")
		}
	}
}

func (r *fakeRelay) all() []session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]session(nil), r.sessions...)
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestSMTPSend(t *testing.T) {
	tests := []struct {
		name     string
		offerTLS bool
		trust    bool
		user     string
		wantErr  error
		wantAuth string
	}{
		{name: "starttls and auth", offerTLS: true, trust: true, user: "mailer", wantAuth: "\x00mailer\x00s3cret"},
		{name: "starttls without auth", offerTLS: true, trust: true},
		{name: "no starttls refused", offerTLS: false, trust: true, user: "mailer", wantErr: ErrNoStartTLS},
		{name: "untrusted certificate refused", offerTLS: true, trust: false, user: "mailer", wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			relay, pool := newFakeRelay(t, tc.offerTLS)
			s := NewSMTP(config.Mail{
				SMTPHost: "127.0.0.1", SMTPPort: relay.port(),
				Username: tc.user, Password: "s3cret", From: "onstage <no-reply@onstage.test>",
			})
			if tc.trust {
				s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := s.Send(ctx, Message{To: "ada@example.com", Subject: "Réinitialiser", Text: "Open https://x.test/reset?token=abc\n.\nbye"})
			switch {
			case tc.wantErr == errAny:
				if err == nil {
					t.Fatal("Send succeeded; want an error")
				}
				return
			case !errors.Is(err, tc.wantErr):
				t.Fatalf("Send: err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				for _, s := range relay.all() {
					if s.authPlain != "" || s.data != "" {
						t.Fatalf("credentials or data sent without TLS: %+v", s)
					}
				}
				return
			}
			// The relay records a session when its connection ends, which may be just after
			// Send has returned (Send returns on the 221 reply).
			got := relay.all()
			for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); got = relay.all() {
				time.Sleep(5 * time.Millisecond)
			}
			if len(got) != 1 {
				t.Fatalf("relay saw %d sessions, want 1", len(got))
			}
			ss := got[0]
			if !ss.tls {
				t.Fatal("mail sent without STARTTLS")
			}
			if ss.authPlain != tc.wantAuth {
				t.Fatalf("AUTH PLAIN = %q, want %q", ss.authPlain, tc.wantAuth)
			}
			if !strings.HasPrefix(ss.from, "FROM:<no-reply@onstage.test>") || !strings.HasPrefix(ss.to, "TO:<ada@example.com>") {
				t.Fatalf("envelope = %q -> %q", ss.from, ss.to)
			}
			head, body, ok := strings.Cut(ss.data, "\n\n")
			if !ok {
				t.Fatalf("no header/body separator in %q", ss.data)
			}
			for _, want := range []string{"To: ada@example.com", "Subject: =?utf-8?q?R=C3=A9initialiser?=", "Content-Type: text/plain; charset=utf-8"} {
				if !strings.Contains(head, want) {
					t.Fatalf("header lacks %q:\n%s", want, head)
				}
			}
			decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(strings.ReplaceAll(body, "\n", "\r\n"))))
			if err != nil {
				t.Fatal(err)
			}
			if want := "Open https://x.test/reset?token=abc\r\n.\r\nbye"; string(decoded) != want {
				t.Fatalf("body = %q, want %q", decoded, want)
			}
		})
	}
}

// errAny marks a case expecting some error, whatever it is.
var errAny = errors.New("any error")

func TestSMTPUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := NewSMTP(config.Mail{SMTPHost: "127.0.0.1", SMTPPort: port, From: "no-reply@onstage.test"})
	if err := s.Send(context.Background(), Message{To: "ada@example.com", Subject: "x", Text: "x"}); err == nil {
		t.Fatal("Send to a closed port succeeded")
	} else if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("error does not name the relay: %v", err)
	}
}
