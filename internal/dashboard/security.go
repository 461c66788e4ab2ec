package dashboard

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// contentSecurityPolicy allows this server's own script, styles and images only: no inline
// script or style, no other origin, no framing, no forms.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// guard sets the security headers, refuses Host names that are not loopback ones (a DNS
// rebinding page would send its own name) and any method but GET and HEAD.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if !LoopbackHost(r.Host) {
			http.Error(w, "this dashboard answers to localhost, 127.0.0.1 and [::1] only", http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LoopbackHost says whether a host, with or without a port, names this machine: localhost or
// a loopback address.
func LoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddress says why addr cannot be listened on: the dashboard shows what the user's
// credentials can read to whoever reaches it, so it listens on a loopback address only.
func CheckAddress(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if !LoopbackHost(host) {
		return fmt.Errorf("address %q is not a loopback address: the dashboard shows what your credentials can read to whoever reaches it, "+
			"so it listens on 127.0.0.1, [::1] or localhost only (use an SSH tunnel to reach it from elsewhere)", addr)
	}
	return nil
}

// Listen listens on addr, which must pass CheckAddress. When fallback is set and the port is
// taken, it takes a free port on the same host.
func Listen(addr string, fallback bool) (net.Listener, error) {
	if err := CheckAddress(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && fallback {
		host, _, _ := net.SplitHostPort(addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	return ln, err
}
