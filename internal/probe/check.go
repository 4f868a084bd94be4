// Running a probe with the kubelet's semantics (k8s.io/kubernetes pkg/probe/http, v1.34): GET with the
// probe's headers plus User-Agent kube-probe/<minor> and Accept */*, a Host header that sets the request's
// host, the probe's timeout over the whole exchange, no proxy, no keep-alives, no TLS verification for
// https; redirects followed on the same host (at most 10), while a redirect to another host ends the
// probe with that 3xx response, which the kubelet counts as success with a warning. Success is a status
// in 200-399. A preview that probed more leniently (or more strictly) than the kubelet would pass an image
// the cluster rejects, or fail one it accepts.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// UserAgent is what the kubelet of the tested Kubernetes minor version sends.
const UserAgent = "kube-probe/1.34"

// BodyLimit is how much of a response body a Result keeps, to print.
const BodyLimit = 1024

// maxRedirects is the kubelet's limit on same-host redirects.
const maxRedirects = 10

// Result is one probe attempt.
type Result struct {
	Probe    HTTPGet
	URL      string
	OK       bool
	Status   int    // the HTTP status; 0 when there was no response
	Body     string // the first BodyLimit bytes of the response
	Warning  string // set when a redirect to another host ended the probe (still OK, as for the kubelet)
	Err      string // why there was no response: refused, timed out...
	Duration time.Duration
}

// String is the result as one line for a report, with the body of a failure.
func (r Result) String() string {
	head := fmt.Sprintf("%s GET %s", r.Probe.Kind, r.URL)
	switch {
	case r.Err != "":
		return fmt.Sprintf("%s: failed: %s", head, r.Err)
	case !r.OK:
		return fmt.Sprintf("%s: failed: HTTP %d: %s", head, r.Status, oneLine(r.Body))
	case r.Warning != "":
		return fmt.Sprintf("%s: HTTP %d (warning: %s)", head, r.Status, r.Warning)
	}
	return fmt.Sprintf("%s: HTTP %d in %s", head, r.Status, r.Duration.Round(time.Millisecond))
}

// Check runs p once against addr: a host (the probe's port is used) or host:port (when the app's port
// is reached through another one, as through a tunnel).
func Check(ctx context.Context, addr string, p HTTPGet) (res Result) {
	res = Result{Probe: p, URL: p.urlAt(addr)}
	begin := time.Now()
	defer func() { res.Duration = time.Since(begin) }()
	req, err := p.request(ctx, res.URL)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	resp, err := client(p).Do(req)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, BodyLimit))
	res.Status, res.Body = resp.StatusCode, string(body)
	res.OK = resp.StatusCode >= 200 && resp.StatusCode < 400
	if res.OK && resp.StatusCode >= 300 {
		res.Warning = "probe terminated redirects to " + resp.Header.Get("Location")
	}
	return res
}

// Wait checks p until it succeeds or the kubelet would have given up: FailureThreshold consecutive
// failures, Period apart, once InitialDelay has passed. (The kubelet waits InitialDelay before the first
// attempt; Wait starts at once, so a healthy app is not held up, and counts failures only after it.)
// It returns the last attempt.
func Wait(ctx context.Context, addr string, p HTTPGet) Result {
	begin := time.Now()
	failures := 0
	for {
		res := Check(ctx, addr, p)
		if res.OK {
			return res
		}
		if time.Since(begin) >= p.InitialDelay {
			failures++
		}
		if failures >= max(p.FailureThreshold, 1) || ctx.Err() != nil {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-time.After(p.Period):
		}
	}
}

// CheckAll waits for each probe in turn (startup first, as the kubelet does) and fails with every
// failed result when any fails.
func CheckAll(ctx context.Context, addr string, probes []HTTPGet) ([]Result, error) {
	var results []Result
	var failed []string
	for _, p := range probes {
		r := Wait(ctx, addr, p)
		results = append(results, r)
		if !r.OK {
			failed = append(failed, r.String())
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("probe: the kubelet would fail this image:\n  %s", strings.Join(failed, "\n  "))
	}
	return results, nil
}

func (p HTTPGet) urlAt(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return p.Scheme + "://" + addr + p.Path
	}
	return p.URL(addr)
}

func joinHostPort(host string, port int32) string {
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(int(port)))
}

// request builds the kubelet's request: the probe's headers, then its defaults for those not given (an
// Accept header given empty is dropped), and a Host header as the request's host.
func (p HTTPGet) request(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, hd := range p.Headers {
		h.Add(hd.Name, hd.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", UserAgent)
	}
	if _, ok := h["Accept"]; !ok {
		h.Set("Accept", "*/*")
	} else if h.Get("Accept") == "" {
		h.Del("Accept")
	}
	req.Header = h
	req.Host = h.Get("Host")
	return req, nil
}

func client(p HTTPGet) *http.Client {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:              nil,
			DisableKeepAlives:  true,
			DisableCompression: true,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probe targets
		},
		CheckRedirect: sameHostRedirects,
	}
}

// sameHostRedirects follows redirects on the first request's host and stops at another host, keeping
// that redirect as the response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty body)"
	}
	return s
}
