// Tests of the prober against real local HTTP servers: kubelet success and failure statuses, the body
// kept for the report, headers as the kubelet sends them, redirects (same host followed, another host
// a warning), timeouts, and Wait's failure budget.
package probe

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts a server and returns its host:port.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func readiness(path string) HTTPGet {
	return HTTPGet{Kind: Readiness, Path: path, Scheme: "http", Timeout: time.Second, Period: 10 * time.Millisecond, FailureThreshold: 3}
}

func TestCheckStatuses(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "fine")
		case "/created":
			w.WriteHeader(http.StatusNoContent)
		case "/broken":
			http.Error(w, "database unreachable: dial tcp 10.0.0.7:5432", http.StatusInternalServerError)
		case "/same-host-redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/redirect-to-broken":
			http.Redirect(w, r, "/broken", http.StatusMovedPermanently)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Error(w, "no route "+r.URL.Path, http.StatusNotFound)
		}
	})
	tests := []struct {
		path     string
		ok       bool
		status   int
		body     string
		errHas   string
		inString string
	}{
		{"/ok", true, 200, "fine", "", "HTTP 200"},
		{"/created", true, 204, "", "", "HTTP 204"},
		{"/broken", false, 500, "database unreachable: dial tcp 10.0.0.7:5432\n", "", "failed: HTTP 500: database unreachable: dial tcp 10.0.0.7:5432"},
		{"/readyz", false, 404, "no route /readyz\n", "", "failed: HTTP 404: no route /readyz"},
		{"/same-host-redirect", true, 200, "fine", "", "HTTP 200"},
		{"/redirect-to-broken", false, 500, "database unreachable: dial tcp 10.0.0.7:5432\n", "", "HTTP 500"},
		{"/loop", false, 0, "", "stopped after 10 redirects", "failed: "},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := Check(t.Context(), addr, readiness(tt.path))
			if r.OK != tt.ok || r.Status != tt.status || r.Body != tt.body || !strings.Contains(r.Err, tt.errHas) {
				t.Errorf("got ok=%v status=%d body=%q err=%q; want ok=%v status=%d body=%q err~%q", r.OK, r.Status, r.Body, r.Err, tt.ok, tt.status, tt.body, tt.errHas)
			}
			if s := r.String(); !strings.Contains(s, tt.inString) || !strings.Contains(s, "readiness GET http://"+addr+tt.path) {
				t.Errorf("String() = %q, want it to name the URL and contain %q", s, tt.inString)
			}
		})
	}
}

// A redirect to another host is not followed; the kubelet counts the 3xx as success with a warning.
func TestRedirectToAnotherHostIsAWarningNotFollowed(t *testing.T) {
	var followed atomic.Int32
	var addr string
	addr = serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			http.Error(w, "should not be reached", http.StatusInternalServerError)
			return
		}
		_, port, _ := net.SplitHostPort(addr)
		http.Redirect(w, r, "http://localhost:"+port+"/elsewhere", http.StatusFound)
	})
	r := Check(t.Context(), addr, readiness("/login"))
	if !r.OK || r.Status != http.StatusFound || !strings.Contains(r.Warning, "localhost") {
		t.Errorf("got ok=%v status=%d warning=%q; want OK, 302 and a warning naming the other host", r.OK, r.Status, r.Warning)
	}
	if followed.Load() != 0 {
		t.Error("the redirect to another host was followed")
	}
}

func TestRequestIsTheKubelets(t *testing.T) {
	var last atomic.Pointer[http.Request]
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) { last.Store(r.Clone(r.Context())) })
	p := readiness("/healthz?full=1")
	p.Headers = []Header{{"X-Probe", "a"}, {"X-Probe", "b"}, {"Host", "app.example"}}
	if r := Check(t.Context(), addr, p); !r.OK {
		t.Fatal(r)
	}
	got := last.Load()
	checks := map[string][2]string{
		"User-Agent": {got.UserAgent(), UserAgent},
		"Accept":     {got.Header.Get("Accept"), "*/*"},
		"X-Probe":    {strings.Join(got.Header.Values("X-Probe"), ","), "a,b"},
		"Host":       {got.Host, "app.example"},
		"query":      {got.URL.RawQuery, "full=1"},
		"encoding":   {got.Header.Get("Accept-Encoding"), ""},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %q, want %q", what, c[0], c[1])
		}
	}

	// A probe's own User-Agent wins, and an empty Accept removes the header.
	p.Headers = []Header{{"User-Agent", "mine"}, {"Accept", ""}}
	Check(t.Context(), addr, p)
	if got = last.Load(); got.UserAgent() != "mine" || len(got.Header.Values("Accept")) != 0 {
		t.Errorf("User-Agent %q, Accept %q", got.UserAgent(), got.Header.Values("Accept"))
	}
}

func TestTimeoutFails(t *testing.T) {
	release := make(chan struct{})
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	p := readiness("/slow")
	p.Timeout = 100 * time.Millisecond
	begin := time.Now()
	r := Check(t.Context(), addr, p)
	if r.OK || r.Status != 0 || !strings.Contains(r.Err, "Timeout exceeded") {
		t.Errorf("got ok=%v status=%d err=%q; want a client timeout", r.OK, r.Status, r.Err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("took %s with a 100ms timeout", d)
	}
}

func TestCheckAtHostUsesTheProbePort(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {})
	u, _ := url.Parse("http://" + addr)
	p := readiness("/")
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	p.Port = int32(port)
	if r := Check(t.Context(), u.Hostname(), p); !r.OK || r.URL != "http://"+addr+"/" {
		t.Errorf("Check at host %s with port %d: %v", u.Hostname(), p.Port, r)
	}
}

func TestConnectionRefusedFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := Check(t.Context(), addr, readiness("/"))
	if r.OK || !strings.Contains(r.Err, "refused") || !strings.Contains(r.String(), "failed: ") {
		t.Errorf("%v", r)
	}
}

func TestHTTPSIsNotVerified(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	p := readiness("/")
	p.Scheme = "https"
	if r := Check(t.Context(), strings.TrimPrefix(srv.URL, "https://"), p); !r.OK {
		t.Errorf("https probe of a self-signed server: %v", r)
	}
}

// flaky fails the first n requests with 503, then succeeds.
func flaky(t *testing.T, n int32) (string, *atomic.Int32) {
	var calls atomic.Int32
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}), &calls
}

func TestWaitWithinTheFailureThreshold(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int32
		threshold int
		delay     time.Duration
		ok        bool
		calls     int32
	}{
		{"succeeds on the third of three", 2, 3, 0, true, 3},
		{"fails after two of two", 5, 2, 0, false, 2},
		{"initial delay absorbs early failures", 2, 1, 300 * time.Millisecond, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, calls := flaky(t, tt.failFirst)
			p := readiness("/")
			p.FailureThreshold, p.InitialDelay = tt.threshold, tt.delay
			r := Wait(t.Context(), addr, p)
			if r.OK != tt.ok || calls.Load() != tt.calls {
				t.Errorf("ok=%v after %d calls, want ok=%v after %d (last: %v)", r.OK, calls.Load(), tt.ok, tt.calls, r)
			}
		})
	}
}

func TestCheckAllReportsEveryFailure(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/live" {
			http.Error(w, "not ready: warming cache", http.StatusServiceUnavailable)
		}
	})
	live, ready := readiness("/live"), readiness("/ready")
	live.Kind = Liveness
	ready.FailureThreshold = 1
	results, err := CheckAll(t.Context(), addr, []HTTPGet{ready, live})
	if len(results) != 2 || results[0].OK || !results[1].OK {
		t.Fatalf("results %v", results)
	}
	if err == nil || !strings.Contains(err.Error(), "readiness GET") || !strings.Contains(err.Error(), "not ready: warming cache") || strings.Contains(err.Error(), "liveness") {
		t.Errorf("error %v, want the readiness failure with its body and nothing about liveness", err)
	}
}
