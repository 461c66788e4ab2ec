package dashboard

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestToken(t *testing.T) {
	h := newServer(t, &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()}}, "demo").Handler()
	const cookie = "ampora-dashboard-8484"
	tests := []struct {
		name, host, path string
		cookie           *http.Cookie
		code             int
		location         string
		body             string
	}{
		{name: "no token", path: "/", code: http.StatusForbidden, body: "This dashboard needs its access token."},
		{name: "no token for an asset", path: "/static/dashboard.css", code: http.StatusForbidden},
		{name: "no token for a rollout", path: "/rollouts/demo/gw", code: http.StatusForbidden},
		{name: "right token", path: "/?token=" + testToken, code: http.StatusSeeOther, location: "/"},
		{name: "right token, other parameters kept", path: "/rollouts/demo/gw/agents/" + uid1 + "?state=Failed&token=" + testToken,
			code: http.StatusSeeOther, location: "/rollouts/demo/gw/agents/" + uid1 + "?state=Failed"},
		{name: "right token, no redirect to another host", path: "//evil.example/?token=" + testToken, code: http.StatusSeeOther, location: "/"},
		{name: "wrong token", path: "/?token=" + testToken[:42] + "x", code: http.StatusForbidden, body: "not this dashboard's"},
		{name: "empty token", path: "/?token=", code: http.StatusForbidden},
		{name: "wrong token with the right cookie", path: "/?token=nope", cookie: &http.Cookie{Name: cookie, Value: testToken},
			code: http.StatusForbidden},
		{name: "cookie", path: "/", cookie: &http.Cookie{Name: cookie, Value: testToken}, code: http.StatusOK, body: "<!DOCTYPE html>"},
		{name: "cookie for an asset", path: "/static/dashboard.js", cookie: &http.Cookie{Name: cookie, Value: testToken}, code: http.StatusOK},
		{name: "wrong cookie", path: "/", cookie: &http.Cookie{Name: cookie, Value: "nope"}, code: http.StatusForbidden,
			body: "another access token"},
		{name: "cookie of another port", path: "/", cookie: &http.Cookie{Name: "ampora-dashboard-9000", Value: testToken},
			code: http.StatusForbidden},
		{name: "cookie without a port in Host", host: "localhost", path: "/", cookie: &http.Cookie{Name: "ampora-dashboard-80", Value: testToken},
			code: http.StatusOK},
		{name: "another Host comes first", host: "evil.example:8484", path: "/?token=" + testToken, code: http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8484"+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tt.code {
				t.Fatalf("GET %s = %d, want %d\n%s", tt.path, rec.Code, tt.code, body)
			}
			if got := rec.Header().Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body lacks %q\n%s", tt.body, body)
			}
			if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("security headers missing: %v", rec.Header())
			}
			cookies := rec.Result().Cookies()
			if tt.code != http.StatusSeeOther {
				if len(cookies) > 0 {
					t.Errorf("cookies set: %v", cookies)
				}
				if tt.code == http.StatusForbidden {
					if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
						t.Errorf("Content-Type = %q", ct)
					}
					if !strings.Contains(string(body), "Open the address that kubectl ampora dashboard printed") || strings.Contains(string(body), "demo") {
						t.Errorf("403 page:\n%s", body)
					}
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("cookies = %v, want one", cookies)
			}
			c := cookies[0]
			if c.Name != cookie || c.Value != testToken || c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode ||
				c.MaxAge != 0 || !c.Expires.IsZero() {
				t.Errorf("cookie = %+v, want %s=token, Path=/, HttpOnly, SameSite=Strict, for the browser session", c, cookie)
			}
		})
	}
}

// TestTokenRoundTrip follows the printed address as a browser does: the redirect sets the
// cookie, and the page and its refreshes load with it.
func TestTokenRoundTrip(t *testing.T) {
	s := newServer(t, &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()}}, "demo")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	u := s.URL(strings.TrimPrefix(srv.URL, "http://"))
	if want := srv.URL + "/?token=" + testToken; u != want {
		t.Fatalf("URL = %q, want %q", u, want)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != srv.URL+"/" {
		t.Errorf("following %s ended at %s with %d", u, resp.Request.URL, resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rollouts/demo/gw", nil)
	req.Header.Set(fragmentHeader, "1")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("refresh with the cookie = %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the cookie = %d, want 403", resp.StatusCode)
	}
}

func TestNewToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 || len(a) != 43 {
		t.Errorf("token %q: %d bytes, %v; want 32 bytes in base64url", a, len(raw), err)
	}
	if a == b {
		t.Errorf("two tokens are the same: %q", a)
	}
	s, err := New(Options{Source: &fakeSource{}})
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimPrefix(s.URL("127.0.0.1:1"), "http://127.0.0.1:1/?token="); len(tok) != 43 || tok == a {
		t.Errorf("New made no fresh token: %q", s.URL("127.0.0.1:1"))
	}
}

func TestTokenEqual(t *testing.T) {
	for _, tt := range []struct {
		got  string
		want bool
	}{
		{testToken, true},
		{"", false},
		{testToken[:42], false},
		{testToken + "A", false},
		{strings.ToUpper(testToken), false},
		{"x" + testToken[1:], false},
	} {
		if got := tokenEqual(tt.got, testToken); got != tt.want {
			t.Errorf("tokenEqual(%q) = %v, want %v", tt.got, got, tt.want)
		}
	}
}
