package booking

import (
	"context"
	"crypto/hmac"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSignV4Vector checks the signer against the GET Object example of the S3 Signature
// Version 4 documentation (a fixed request with a known signature).
func TestSignV4Vector(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	req.Header.Set("Range", "bytes=0-9")
	signV4(req, nil, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
		time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("authorization\n got %s\nwant %s", got, want)
	}
}

// fakeS3 speaks S3's path-style PUT and GET Object and refuses a request whose signature,
// recomputed with the secret, or whose payload hash does not match.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	secret  string
	refused int
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	for _, h := range []string{"Content-Type", "Range"} {
		if v := r.Header.Get(h); v != "" {
			check.Header.Set(h, v)
		}
	}
	ts, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	signV4(check, body, "AKTEST", f.secret, "us-east-1", ts)
	if !hmac.Equal([]byte(check.Header.Get("Authorization")), []byte(auth)) ||
		r.Header.Get("X-Amz-Content-Sha256") != sha256Hex(body) {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code></Error>")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		f.objects[r.URL.Path] = body
	case http.MethodGet:
		b, ok := f.objects[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "<Error><Code>NoSuchKey</Code></Error>")
			return
		}
		_, _ = w.Write(b)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// TestS3Storage stores and reads an image through a local server speaking S3's PUT and GET.
func TestS3Storage(t *testing.T) {
	f := &fakeS3{objects: map[string][]byte{}, secret: "s3-secret"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	st := &S3Storage{Endpoint: srv.URL, Bucket: "uploads", AccessKey: "AKTEST", SecretKey: "s3-secret"}
	ctx := context.Background()
	name := strings.Repeat("ab", 16) + ".png"
	if err := st.Put(ctx, name, "image/png", []byte("png bytes")); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.objects["/uploads/"+name]; !ok {
		t.Fatalf("stored under %v", f.objects)
	}
	data, ct, err := st.Get(ctx, name)
	if err != nil || string(data) != "png bytes" || ct != "image/png" {
		t.Fatalf("get: %q %s %v", data, ct, err)
	}
	if _, _, err := st.Get(ctx, strings.Repeat("cd", 16)+".png"); !errors.Is(err, ErrNoObject) {
		t.Fatalf("missing: %v", err)
	}
	bad := &S3Storage{Endpoint: srv.URL, Bucket: "uploads", AccessKey: "AKTEST", SecretKey: "wrong"}
	if err := bad.Put(ctx, name, "image/png", []byte("x")); err == nil || f.refused == 0 {
		t.Fatalf("a wrong secret was accepted: %v", err)
	}
}
