package httpx

import (
	"context"
	"net/http"
)

func contextWith(r *http.Request, key, val any) context.Context {
	return context.WithValue(r.Context(), key, val)
}
