package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/authn"
)

// maxBody is how much of a request body is kept for the log.
const maxBody = 8 << 10

type noteKey struct{}

// note is what a handler says about the action it ran, for the row the middleware writes.
type note struct {
	operation, targetType, targetID string
	// pattern is the matched route, when a check refused the request before routing ended.
	pattern string
	// actor is the authenticated caller, set by Identify.
	actor *authn.Identity
}

// Identify tells the recording middleware (which runs before authentication, so that refused
// tokens are recorded too) who the caller is. It goes right after authentication.
func Identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := r.Context().Value(noteKey{}).(*note); ok {
			if id, ok := authn.FromContext(r.Context()); ok {
				n.actor = &id
			}
		}
		next.ServeHTTP(w, r)
	})
}

// matchPattern finds the route of ops that path matches for method ({param} matches any one
// segment).
func matchPattern(ops map[string]Operation, method, path string) (string, bool) {
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for key := range ops {
		m, pattern, _ := strings.Cut(key, " ")
		if m != method {
			continue
		}
		ps := strings.Split(pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		ok := true
		for i := range ps {
			if ps[i] != segs[i] && !(strings.HasPrefix(ps[i], "{") && segs[i] != "") {
				ok = false
				break
			}
		}
		if ok {
			return pattern, true
		}
	}
	return "", false
}

// Operation names what a route does, for its rows.
type Operation struct {
	Name, TargetType string
	// TargetParam is the path parameter holding the target's id ("" for none).
	TargetParam string
}

// Refused tells the middleware which route a request matched when a check in front of the
// handler refused it.
func Refused(ctx context.Context, pattern string) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		n.pattern = pattern
	}
}

// pathParam returns the segment of path standing where pattern has {param}.
func pathParam(pattern, path, param string) string {
	if param == "" {
		return ""
	}
	ps, vs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, seg := range ps {
		if seg == "{"+param+"}" && i < len(vs) {
			return vs[i]
		}
	}
	return ""
}

// Note names the operation and target of the current request's audit row. Handlers call it;
// outside an audited request it does nothing.
func Note(ctx context.Context, operation, targetType, targetID string) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		n.operation, n.targetType, n.targetID = operation, targetType, targetID
	}
}

// Middleware records requests under prefix (the admin API): every mutation, every refused
// attempt (401, 403) and every read of the audit log itself (paths under auditPath). It runs
// before authentication (with Identify after it) and before the route's permission check, so
// refusals of both are seen. ops
// names the operation of each route ("POST /api/v1/admin/roles" → "role:create"), so that a
// refused attempt, whose handler never ran, is logged under the same name as an allowed one.
func (l *Log) Middleware(prefix, auditPath string, ops map[string]Operation) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, prefix) {
				next.ServeHTTP(w, r)
				return
			}
			start := l.now()
			body := captureBody(r)
			n := &note{}
			rec := &recorder{ResponseWriter: w}
			r = r.WithContext(context.WithValue(r.Context(), noteKey{}, n))
			next.ServeHTTP(rec, r)

			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			read := r.Method == http.MethodGet || r.Method == http.MethodHead
			denied := status == http.StatusUnauthorized || status == http.StatusForbidden
			if read && !denied && !strings.HasPrefix(r.URL.Path, auditPath) {
				return
			}
			e := Entry{Method: r.Method, URL: r.URL.RequestURI(), Body: redact(body), IP: remoteIP(r),
				UserAgent: r.UserAgent(), HTTPStatus: status, LatencyMS: l.now().Sub(start).Milliseconds()}
			if n.actor != nil {
				e.ActorID, e.ActorName = n.actor.UserID, n.actor.Name
			}
			rest := strings.TrimPrefix(r.URL.Path, prefix)
			e.Module, _, _ = strings.Cut(rest, "/")
			e.Operation, e.TargetType, e.TargetID = n.operation, n.targetType, n.targetID
			if e.Operation == "" {
				pattern := n.pattern
				if pattern == "" {
					if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
						pattern = strings.TrimSuffix(rc.RoutePattern(), "/")
					}
				}
				if matched, ok := matchPattern(ops, r.Method, r.URL.Path); ok {
					pattern = matched // refused before routing finished (a bad token, say)
				}
				e.Operation = r.Method + " " + pattern
				if op, ok := ops[e.Operation]; ok {
					e.Operation, e.TargetType = op.Name, op.TargetType
					e.TargetID = pathParam(pattern, r.URL.Path, op.TargetParam)
				}
			}
			switch {
			case denied:
				e.Status = StatusDenied
			case status >= 400:
				e.Status = StatusFailed
			default:
				e.Status = StatusSuccess
			}
			if status >= 400 {
				e.Error = errorMessage(rec.errBody.Bytes())
			}
			// The action has happened; a row that cannot be written is logged loudly rather
			// than turned into an error the client would retry.
			if _, err := l.Append(context.WithoutCancel(r.Context()), e); err != nil {
				l.log.ErrorContext(r.Context(), "audit: row lost", "err", err, "method", e.Method, "url", e.URL, "actor", e.ActorID)
			}
		})
	}
}

// captureBody reads up to maxBody bytes of the request body for the log and puts them back.
func captureBody(r *http.Request) []byte {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	buf, _ := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if len(buf) > maxBody {
		return nil // too long to log meaningfully; the row says so
	}
	return buf
}

type readCloser struct {
	io.Reader
	io.Closer
}

// secretWords mark JSON keys whose values never reach the log.
var secretWords = []string{"password", "secret", "token", "captcha", "key", "credential"}

// redact returns the body for the log: JSON with secret values replaced, or a placeholder.
func redact(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "[" + strconv.Itoa(len(body)) + " bytes, not JSON]"
	}
	out, _ := json.Marshal(scrub(v))
	return string(out)
}

func scrub(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			lk := strings.ToLower(k)
			secret := false
			for _, w := range secretWords {
				if strings.Contains(lk, w) {
					secret = true
					break
				}
			}
			if secret {
				t[k] = "[redacted]"
			} else {
				t[k] = scrub(val)
			}
		}
	case []any:
		for i := range t {
			t[i] = scrub(t[i])
		}
	}
	return v
}

func errorMessage(b []byte) string {
	var body struct {
		Error struct {
			Code, Message string
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		return body.Error.Code + ": " + body.Error.Message
	}
	return ""
}

func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// recorder keeps the status and, for errors, the start of the body.
type recorder struct {
	http.ResponseWriter
	status  int
	errBody bytes.Buffer
}

func (s *recorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *recorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status >= 400 && s.errBody.Len() < 2048 {
		s.errBody.Write(b[:min(len(b), 2048-s.errBody.Len())])
	}
	return s.ResponseWriter.Write(b)
}

func (s *recorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
