// Package httpx owns the HTTP conventions every REST handler shares: decoding JSON bodies with
// their limits, encoding responses, the one error shape, and the one mapping from domain error
// kinds to HTTP statuses.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
)

// MaxBody is the largest request body any route accepts.
const MaxBody = 1 << 20

// Decode reads one JSON object from the request body into dst, refusing bodies over MaxBody,
// unknown fields, wrong types and trailing data with a clear *apperr.Error.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.ErrTooLarge
		}
		return apperr.ErrBadRequest.WithMessage("the body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return apperr.ErrTooLarge
	case errors.Is(err, io.EOF):
		return apperr.ErrBadRequest.WithMessage("the body is empty; a JSON object is required")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.ErrBadRequest.WithMessage("malformed JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.ErrBadRequest.WithMessage("the body must be a JSON object")
		}
		return apperr.ErrBadRequest.WithMessage("a field has the wrong type").
			WithFields(map[string]string{field: "must be " + typeName(typ.Type.String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.ErrBadRequest.WithMessage("unknown field").WithFields(map[string]string{name: "unknown field"})
	}
	return apperr.ErrBadRequest.WithMessage("malformed JSON")
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"),
		strings.HasPrefix(goType, "*int"):
		return "a number"
	case goType == "bool", goType == "*bool":
		return "a boolean"
	case goType == "string", goType == "*string", strings.HasSuffix(goType, "Time"):
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// JSON writes v with the status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// ErrorBody is the one error shape of the REST API.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Status maps a domain error kind to its HTTP status. It is the only such mapping.
func Status(k apperr.Kind) int {
	switch k {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.TooMany:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error writes err in the error shape. A domain error keeps its code and message; anything
// else is logged with the request's logger and answered as a bare internal error.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apperr.As(err)
	if !ok {
		Logger(r).Error("internal error", "err", err)
		e = apperr.ErrInternal
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	JSON(w, Status(e.Kind), ErrorBody{Error: ErrorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}})
}

// Logger returns the request-scoped logger set by the logging middleware, or the default.
func Logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

type loggerKey struct{}

// WithLogger stores a request-scoped logger in the request's context.
func WithLogger(r *http.Request, l *slog.Logger) *http.Request {
	return r.WithContext(contextWith(r, loggerKey{}, l))
}

// Page is the shape of every list response.
type Page[T any] struct {
	Items    []T   `json:"items"`
	Page     int   `json:"page"`
	PageSize int   `json:"page_size"`
	Total    int64 `json:"total"`
}

// QueryInt reads an optional integer query parameter within [min, max].
func QueryInt(r *http.Request, name string, def, min, max int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < min || n > max {
		return 0, apperr.ErrValidation.WithFields(map[string]string{name: fmt.Sprintf("must be an integer from %d to %d", min, max)})
	}
	return n, nil
}

// QueryBool reads an optional boolean query parameter; nil when absent.
func QueryBool(r *http.Request, name string) (*bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return nil, apperr.ErrValidation.WithFields(map[string]string{name: "must be true or false"})
	}
	return &b, nil
}

// PathParam returns the route parameter name when it can name something: present, at most 64
// bytes of valid UTF-8 without NUL. Anything else names nothing, so the caller answers 404
// (every id onstage hands out fits).
func PathParam(r *http.Request, name string) (string, bool) {
	v := chi.URLParam(r, name)
	if v == "" || len(v) > 64 || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", false
	}
	return v, true
}
