package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP rewrites r.RemoteAddr to the client's address when the request came through one of
// the trusted proxies (a load balancer in front of the nodes), taking the right-most address
// of X-Forwarded-For that is not itself a trusted proxy. Rate limits key on RemoteAddr, so
// without this every client behind nginx would share the proxy's one limit; trusting the
// header from anyone else would let a client pick its own limit key.
func clientIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			peer, perr := netip.ParseAddr(host)
			if err == nil && perr == nil && isTrusted(peer) {
				hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
					if err != nil {
						break
					}
					if !isTrusted(a) || i == 0 {
						r.RemoteAddr = netip.AddrPortFrom(a.Unmap(), 0).String()
						break
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ParseTrustedProxies parses CIDRs or single addresses.
func ParseTrustedProxies(items []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(items))
	for _, s := range items {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
