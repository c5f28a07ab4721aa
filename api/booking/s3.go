package booking

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// S3Storage keeps files in a bucket of an S3-compatible store (AWS S3, MinIO, …), addressed
// path-style (endpoint/bucket/name), with requests signed by AWS Signature Version 4.
type S3Storage struct {
	Endpoint  string // e.g. http://127.0.0.1:9000
	Bucket    string
	Region    string // "us-east-1" when empty
	AccessKey string
	SecretKey string
	Client    *http.Client
	Now       func() time.Time
}

// MaxObjectBytes bounds what Get reads back.
const MaxObjectBytes = 8 << 20

func (s *S3Storage) objectURL(name string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s.Endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("storage: bad S3 endpoint")
	}
	u.Path = u.Path + "/" + s.Bucket + "/" + name
	return u, nil
}

func (s *S3Storage) do(ctx context.Context, method, name, contentType string, body []byte) (*http.Response, error) {
	if !nameRe.MatchString(name) {
		return nil, ErrNoObject
	}
	u, err := s.objectURL(name)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	signV4(req, body, s.AccessKey, s.SecretKey, s.region(), now().UTC())
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	return c.Do(req)
}

func (s *S3Storage) region() string {
	if s.Region == "" {
		return "us-east-1"
	}
	return s.Region
}

// Put stores the object.
func (s *S3Storage) Put(ctx context.Context, name, contentType string, data []byte) error {
	res, err := s.do(ctx, http.MethodPut, name, contentType, data)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("storage: S3 PUT answered %d", res.StatusCode)
	}
	return nil
}

// Get reads the object; a missing one is ErrNoObject.
func (s *S3Storage) Get(ctx context.Context, name string) ([]byte, string, error) {
	res, err := s.do(ctx, http.MethodGet, name, "", nil)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, "", ErrNoObject
	case res.StatusCode/100 != 2:
		return nil, "", fmt.Errorf("storage: S3 GET answered %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxObjectBytes))
	return b, contentTypeOf(name), err
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// s3Escape encodes a path the way Signature Version 4 wants it for S3: every byte but the
// unreserved characters and "/" percent-encoded, once.
func s3Escape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// signV4 signs req for S3 with AWS Signature Version 4: it sets X-Amz-Date,
// X-Amz-Content-Sha256 and Authorization, signing Host, Content-Type, Range and every X-Amz-
// header.
func signV4(req *http.Request, body []byte, accessKey, secretKey, region string, now time.Time) {
	stamp := now.Format("20060102T150405Z")
	day := stamp[:8]
	payload := sha256Hex(body)
	req.Header.Set("X-Amz-Date", stamp)
	req.Header.Set("X-Amz-Content-Sha256", payload)

	headers := map[string]string{"host": req.URL.Host}
	for k, v := range req.Header {
		lk := strings.ToLower(k)
		if lk == "content-type" || lk == "range" || strings.HasPrefix(lk, "x-amz-") {
			headers[lk] = strings.TrimSpace(strings.Join(v, ","))
		}
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	var canonHeaders strings.Builder
	for _, k := range names {
		canonHeaders.WriteString(k + ":" + headers[k] + "\n")
	}
	signed := strings.Join(names, ";")
	q := req.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var qs []string
	for _, k := range keys {
		for _, v := range q[k] {
			qs = append(qs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{req.Method, s3Escape(path), strings.Join(qs, "&"), canonHeaders.String(), signed, payload}, "\n")
	scope := day + "/" + region + "/s3/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	key := hmacSHA256([]byte("AWS4"+secretKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "s3")
	key = hmacSHA256(key, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(key, toSign))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+scope+",SignedHeaders="+signed+",Signature="+sig)
}
