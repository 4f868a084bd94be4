// The retries a Kubernetes client owes the API server, against a loopback server that answers the way an
// overloaded API server and a broken connection do: a 429 with Retry-After is retried, a read whose
// connection was reset is retried, a write whose connection was reset is not (it may have happened), and a
// failure the server describes only in text keeps that text.
package kube

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		method    string
		fail      func(w http.ResponseWriter) // the first answer; later ones succeed
		wantCalls int32
		wantErr   string
	}{
		{"overloaded read", http.MethodGet, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}, 2, ""},
		{"overloaded write", http.MethodPost, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}, 2, ""},
		{"5xx without Retry-After", http.MethodGet, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("Error while proxying request: x509: certificate signed by unknown authority"))
		}, 1, "x509: certificate signed by unknown authority"},
		{"reset read", http.MethodGet, hangUp, 2, ""},
		{"reset write", http.MethodPost, hangUp, 1, "connection reset by peer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					c.fail(w)
					return
				}
				_, _ = w.Write([]byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm"}}`))
			}))
			defer srv.Close()
			client, err := NewClient(StaticEndpoint(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.do(context.Background(), request{method: c.method, path: "/api/v1/namespaces/n/configmaps", body: []byte("{}")})
			if calls.Load() != c.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), c.wantCalls)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("err = %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// hangUp closes the connection without an answer, as a proxy or server that went away does.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
}
