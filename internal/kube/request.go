// One API request through the proxy, with the retries a Kubernetes client owes the API server. It guards
// against two ways a plain HTTP client fails where kubectl would not: giving up on a server that asked to be
// retried later (429 or 5xx with Retry-After, as priority and fairness answers under load), and giving up on
// a read whose connection was reset. Writes are never retried after a transport error: they may have
// happened. Failed answers become the same apimachinery status errors kubectl sees, so classify can name them.
package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// request is one API call. gr and name only label a failure the server did not describe itself.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	gr           schema.GroupResource
	name         string
}

// maxRetries bounds the retries of one request, as in client-go.
const maxRetries = 10

// do sends the request and returns the body of a successful answer, or the failure as an error.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the response body (the connection may have closed; retry): %w", err)
	}
	if resp.StatusCode < http.StatusOK || resp.StatusCode > http.StatusPartialContent {
		return nil, responseError(resp, body, r)
	}
	return body, nil
}

// send sends the request, retrying it while the server or the connection says a retry may succeed. The
// caller closes the body of the response returned.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.roundTrip(ctx, r)
		wait, again := retryAfter(r.method, resp, err)
		if !again || attempt == maxRetries {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Client) roundTrip(ctx context.Context, r request) (*http.Response, error) {
	base, err := c.endpoint(ctx)
	if err != nil {
		return nil, &Error{Op: "connect to the cluster", Reason: Unavailable, Detail: err.Error()}
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("kubernetes proxy endpoint %q is not a URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("kubernetes request %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", "ship")
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	return c.http.Do(req)
}

// retryAfter says whether and when to send a request again: when the server asks for it (429 or 5xx with
// Retry-After), or when a read's connection broke before an answer.
func retryAfter(method string, resp *http.Response, err error) (time.Duration, bool) {
	if err != nil {
		return time.Second, method == http.MethodGet && brokenConnection(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return 0, false
	}
	s, convErr := strconv.Atoi(resp.Header.Get("Retry-After"))
	if convErr != nil || s < 0 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

func brokenConnection(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection reset by peer") || strings.Contains(err.Error(), "http2: client connection lost")
}

// maxErrorText caps the text of a failure the server did not describe as a Status.
const maxErrorText = 2048

// responseError is the failure a non-2xx answer means: the server's own Status when it sent one, else a
// generic status error carrying the text (the proxy reports an upstream failure, an untrusted certificate
// among them, as a 5xx with plain text).
func responseError(resp *http.Response, body []byte, r request) error {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && (st.Kind == "Status" || st.Kind == "") && st.Status == metav1.StatusFailure {
		return &apierrors.StatusError{ErrStatus: st}
	}
	message := "unknown"
	if isText(resp) {
		message = strings.TrimSpace(string(body[:min(len(body), maxErrorText)]))
	}
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return apierrors.NewGenericServerResponse(resp.StatusCode, r.method, r.gr, r.name, message, retry, true)
}

func isText(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	media, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.HasPrefix(media, "text/")
}
