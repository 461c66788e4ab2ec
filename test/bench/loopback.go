package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// The harness talks to nothing but 127.0.0.x: every connection it makes goes through
// loopbackDial, and every address it hands to a process is checked with checkLoopbackURL.

// isLoopbackV4 says whether ip is in 127.0.0.0/24.
func isLoopbackV4(ip net.IP) bool {
	v4 := ip.To4()
	return v4 != nil && v4[0] == 127 && v4[1] == 0 && v4[2] == 0
}

// loopbackDial dials addr only when it is a literal 127.0.0.x address.
func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !isLoopbackV4(ip) {
		return nil, fmt.Errorf("refusing to connect to %s: the benchmark only talks to 127.0.0.x", addr)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// checkLoopbackURL fails unless u's host is a literal 127.0.0.x address.
func checkLoopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(p.Hostname()); ip == nil || !isLoopbackV4(ip) {
		return fmt.Errorf("%s is not on 127.0.0.x; the benchmark only talks to 127.0.0.x", u)
	}
	return nil
}

// localHTTP is the client for the processes' probe and metrics endpoints.
var localHTTP = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DialContext: loopbackDial, DisableKeepAlives: false, MaxIdleConnsPerHost: 4},
}
