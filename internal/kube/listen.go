// This file waits for a freshly started proxy to listen. The module starts the proxy without the engine's
// port check, whose backoff starts at 100 ms (a proxy that listens after 60 ms was seen 100 ms later, on the
// critical path of every deploy); it guards against the first request meeting a port not yet open, and
// against waiting for ever on a proxy that never listens.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// listenPoll is how often AwaitListening tries the port.
const listenPoll = 5 * time.Millisecond

var errNotListening = errors.New("not listening in time")

// AwaitListening returns once a TCP connection to the URL's host and port succeeds, or fails after timeout
// with the last dial error.
func AwaitListening(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("proxy endpoint %q is not a URL", rawURL)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errNotListening)
	defer cancel()
	var d net.Dialer
	var last error // the last dial that ended by itself: one cut short by the deadline says nothing of the port
	for {
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			return conn.Close()
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errNotListening) {
				return fmt.Errorf("nothing listens on %s after %s (last try: %v): the proxy exited or never started; check the kubeconfig with kubectl --kubeconfig <file> version", u.Host, timeout, last)
			}
			return ctx.Err()
		case <-time.After(listenPoll):
		}
	}
}
