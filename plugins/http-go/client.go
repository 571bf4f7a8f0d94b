package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"tremorhost/pdk-go"
)

type client struct {
	host    pdk.Host
	url     string
	method  string
	dial    string // host:port the url points at, probed by Connect
	timeout time.Duration
	headers http.Header
	hc      *http.Client
	drain   []byte // where response bodies are read (and dropped)
}

func newClient(cfg pdk.Config, host pdk.Host) (pdk.Connector, error) {
	raw, err := cfg.RequireString("url")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, pdk.ConfigError("url %q: %v", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, pdk.ConfigError("url %q must be http://host[:port]/... or https://...", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	method, err := optString(cfg, "method", http.MethodPost)
	if err != nil {
		return nil, err
	}
	if method == "" || strings.IndexFunc(method, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return nil, pdk.ConfigError("method %q is not a valid HTTP method", method)
	}
	timeout, err := optUint(cfg, "timeout_ms", 10000)
	if err != nil {
		return nil, err
	}
	if timeout == 0 || timeout > 3_600_000 {
		return nil, pdk.ConfigError("timeout_ms %d must be between 1 and 3600000", timeout)
	}
	headers := http.Header{}
	if v, ok := cfg.Get("headers"); ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, pdk.ConfigError("headers must be an object, not %T", v)
		}
		for name, val := range m {
			switch x := val.(type) {
			case string:
				headers.Add(name, x)
			case []any:
				for _, e := range x {
					s, ok := e.(string)
					if !ok {
						return nil, pdk.ConfigError("header %q: values must be strings, not %T", name, e)
					}
					headers.Add(name, s)
				}
			default:
				return nil, pdk.ConfigError("header %q must be a string or an array of strings, not %T", name, val)
			}
		}
	}
	d := time.Duration(timeout) * time.Millisecond
	c := &client{
		host: host, url: raw, method: method, timeout: d, headers: headers,
		dial: net.JoinHostPort(u.Hostname(), port),
	}
	c.hc = &http.Client{
		Timeout: d,
		// A redirect is an answer like any other (3xx: FAILED): following
		// it would turn a POST into a GET and resend nothing.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:               nil, // loopback and in-cluster targets: no proxy from the environment
			DialContext:         (&net.Dialer{Timeout: min(d, 5*time.Second)}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	return c, nil
}

// isTokenChar reports whether r may appear in an HTTP token (RFC 9110).
func isTokenChar(r rune) bool {
	return r < 127 && r > 32 && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// Connect checks that something listens at the url's host and port, so
// that a server that is down makes the host back off (TREMOR_RETRY)
// instead of failing batch after batch.
func (c *client) Connect(attempt int) error {
	conn, err := net.DialTimeout("tcp", c.dial, min(c.timeout, 5*time.Second))
	if err != nil {
		if attempt == 1 || attempt%10 == 0 {
			c.host.Warnf("connect to %s (attempt %d): %v; retrying", c.dial, attempt, err)
		}
		var ne net.Error
		if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Timeout()) {
			return fmt.Errorf("connect to %s: %v: %w", c.dial, err, pdk.ErrRetry)
		}
		return fmt.Errorf("connect to %s: %w", c.dial, err)
	}
	conn.Close()
	return nil
}

// post sends one payload and returns the answer's status code. The body is
// a copy: the transport may read it from another goroutine even after Do
// returned (when the server answered before reading it all), and the
// host's memory is valid only during Send.
func (c *client) post(payload []byte) (int, error) {
	req, err := http.NewRequest(c.method, c.url, bytes.NewReader(bytes.Clone(payload)))
	if err != nil {
		return 0, err
	}
	req.Header = c.headers // read-only: the transport and client copy before changing it
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	// Read (a bounded part of) the answer so the connection can be reused.
	if c.drain == nil {
		c.drain = make([]byte, 4096)
	}
	for range 16 {
		if _, err := resp.Body.Read(c.drain); err != nil {
			break
		}
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// retryable says whether an answer means "not now" rather than "never".
func retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// Send sends the batch's payloads in order, one request each, and stops at
// the first event that is to be retried, so that later events do not
// overtake it: they are answered RETRY too.
func (c *client) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	n := b.Len()
	var failed int
	var firstFailed int
	for i := 0; i < n; i++ {
		if b.Structured(i) {
			continue // cannot happen for a bytes connector; stays FAILED
		}
		status, err := c.post(b.Payload(i))
		switch {
		case err != nil:
			retryFrom(b, outcomes, i)
			c.logFailed(failed, firstFailed)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.host.Warnf("%s %s: no answer within %s; %d event(s) will be sent again", c.method, c.url, c.timeout, n-i)
				return nil
			}
			c.hc.CloseIdleConnections()
			c.host.Warnf("%s %s: %v; %d event(s) will be sent again after reconnecting", c.method, c.url, err, n-i)
			return fmt.Errorf("%s %s: %v: %w", c.method, c.url, err, pdk.ErrDisconnected)
		case status >= 200 && status < 300:
			outcomes[i] = pdk.OutcomeOK
		case retryable(status):
			retryFrom(b, outcomes, i)
			c.logFailed(failed, firstFailed)
			c.host.Warnf("%s %s answered %d %s; %d event(s) will be sent again", c.method, c.url, status, http.StatusText(status), n-i)
			return nil
		default:
			if failed == 0 {
				firstFailed = status
			}
			failed++ // stays OutcomeFailed
		}
	}
	c.logFailed(failed, firstFailed)
	return nil
}

func retryFrom(b *pdk.Batch, outcomes []pdk.Outcome, from int) {
	for j := from; j < len(outcomes); j++ {
		if !b.Structured(j) {
			outcomes[j] = pdk.OutcomeRetry
		}
	}
}

func (c *client) logFailed(n, first int) {
	if n > 0 {
		c.host.Warnf("%s %s: %d event(s) refused and failed (first answer: %d %s)", c.method, c.url, n, first, http.StatusText(first))
	}
}

func (c *client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}
