package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
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

// TokenParam is the query parameter of the printed address that carries the access token.
const TokenParam = "token"

// NewToken returns a fresh access token: 32 random bytes, base64url without padding.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dashboard: access token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenEqual compares in constant time, so that the answer's timing tells nothing of the token.
func tokenEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookieName holds the port the browser used: browsers send a host's cookies to all of its
// ports, and two dashboards on one machine must not overwrite each other's token.
func cookieName(host string) string {
	_, port, err := net.SplitHostPort(host)
	if err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
		port = "80"
	}
	return "ampora-dashboard-" + port
}

// requireToken lets through the requests that carry the access token in their cookie. Any user
// of this machine can reach a loopback port; only the one who started the dashboard has its
// output. A request with the right token in its query gets the cookie and is sent to the
// same address without it, so that the token leaves the address bar (bookmarks, copied links).
// Every path needs the token, the static assets too: nothing is served before the cookie is
// set, and one rule for every path leaves no exception to get wrong.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := cookieName(r.Host)
		if q := r.URL.Query(); q.Has(TokenParam) {
			if !tokenEqual(q.Get(TokenParam), token) {
				forbidden(w, "The token in this address is not this dashboard's: it may be from an earlier run.")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: name, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del(TokenParam)
			w.Header().Set("Location", withoutToken(r.URL, q))
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		c, err := r.Cookie(name)
		switch {
		case err != nil:
			forbidden(w, "This dashboard needs its access token.")
		case !tokenEqual(c.Value, token):
			forbidden(w, "This browser holds another access token, perhaps of an earlier run of the dashboard.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// withoutToken is the path of u with the query q. A path that a browser would read as another
// host ("//evil.example") becomes "/".
func withoutToken(u *url.URL, q url.Values) string {
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		p = "/"
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// forbidden answers 403 in plain text, which tells nothing of the rollouts or the context.
func forbidden(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "403 Forbidden\n\n%s\nOpen the address that kubectl ampora dashboard printed when it started: "+
		"it carries the access token (http://127.0.0.1:PORT/?token=...).\n"+
		"Paste it into the address bar: after a link from another site, the browser holds the token's cookie back (SameSite=Strict).\n", why)
}
