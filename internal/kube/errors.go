// Typed cluster failures. The API server answers with a Status (reason, details); the proxy answers 502
// with the transport error when it cannot reach the cluster; the network may fail before either. This file
// turns all of them into a Reason plus the verb/resource/namespace involved, so callers can branch
// (AlreadyExists means the lock is held, Unavailable means retry) and users get a message that says what to
// fix: an untrusted certificate is not "the server is unavailable", a missing namespace is not a 404.
package kube

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reason classifies a failure.
type Reason string

const (
	Forbidden         Reason = "Forbidden"
	Unauthorized      Reason = "Unauthorized"
	NotFound          Reason = "NotFound"
	NamespaceNotFound Reason = "NamespaceNotFound"
	AlreadyExists     Reason = "AlreadyExists"
	Conflict          Reason = "Conflict"
	Invalid           Reason = "Invalid"
	Immutable         Reason = "Immutable"   // Invalid, for a field the cluster never changes in place
	Untrusted         Reason = "Untrusted"   // the server's TLS certificate failed verification
	Unavailable       Reason = "Unavailable" // unreachable or overloaded: worth retrying
	Failed            Reason = "Failed"      // anything else
)

// Error is a failed request.
type Error struct {
	Op        string // what was being done, e.g. "apply deployment.apps/web"
	Reason    Reason
	User      string // Forbidden: the identity the proxy acts as
	Verb      string // Forbidden: e.g. "create"
	Resource  string // Forbidden: e.g. "deployments.apps"
	Namespace string // Forbidden / NamespaceNotFound
	Kind      string // Immutable: the object's kind
	Field     string // Immutable: the field refused, e.g. "spec.template"
	Detail    string // the server's own words, trimmed
}

func (e *Error) Error() string {
	switch e.Reason {
	case Forbidden:
		where := "cluster-wide"
		if e.Namespace != "" {
			where = fmt.Sprintf("in namespace %q", e.Namespace)
		}
		if e.Verb == "" {
			return fmt.Sprintf("%s: forbidden: %s; the deploy identity needs the \"edit\" ClusterRole bound in the namespace (bootstrap grants it)", e.Op, e.Detail)
		}
		return fmt.Sprintf("%s: forbidden: %s cannot %s %s %s; the deploy identity needs the \"edit\" ClusterRole bound in that namespace (bootstrap grants it)",
			e.Op, quoteUser(e.User), e.Verb, e.Resource, where)
	case Unauthorized:
		return fmt.Sprintf("%s: the cluster rejected the credentials (Unauthorized): the token may have expired, or the identity has no EKS access entry; rerun bootstrap or check the kubeconfig", e.Op)
	case NamespaceNotFound:
		return fmt.Sprintf("%s: namespace %s does not exist: run bootstrap or create it", e.Op, e.Namespace)
	case Untrusted:
		return fmt.Sprintf("%s: the API server's certificate is not trusted (%s): the kubeconfig's certificate-authority-data does not match the server, or tls-server-name names a host the certificate was not issued for", e.Op, e.Detail)
	case Unavailable:
		return fmt.Sprintf("%s: the Kubernetes API server is unavailable: %s", e.Op, e.Detail)
	case Immutable:
		return immutableMessage(e.Op, e.Kind, e.Field)
	default:
		return fmt.Sprintf("%s: %s: %s", e.Op, e.Reason, e.Detail)
	}
}

func quoteUser(u string) string {
	if u == "" {
		return "the current identity"
	}
	return fmt.Sprintf("user %q", u)
}

// HasReason reports whether err is, or wraps, an *Error with reason r.
func HasReason(err error, r Reason) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == r
}

var (
	forbiddenRe = regexp.MustCompile(`User "([^"]*)" cannot (\S+) resource "([^"]*)" in API group "([^"]*)"(?: in the namespace "([^"]*)")?`)
	nsMissingRe = regexp.MustCompile(`namespaces "([^"]+)" not found`)
	x509Re      = regexp.MustCompile(`(x509|tls): [^"\n]*`)
	transient   = []string{"connection refused", "connection reset by peer", "i/o timeout", "TLS handshake timeout",
		"EOF", "http2: client connection lost", "no such host", "context deadline exceeded", "etcdserver: ",
		"the server is currently unable to handle the request", "the server was unable to return a response"}
)

// classify turns any error from a request into an *Error (an *Error is returned as it is, with its Op kept).
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	msg := strings.TrimSpace(err.Error())
	out := &Error{Op: op, Reason: Failed, Detail: shorten(msg)}
	var status apierrors.APIStatus
	isStatus := errors.As(err, &status)
	immutable := ""
	if isStatus && apierrors.IsInvalid(err) {
		immutable = immutableField(status)
	}
	// The proxy reports its upstream failures (an untrusted certificate among them) as 5xx with the text.
	switch {
	case x509Re.MatchString(msg):
		out.Reason, out.Detail = Untrusted, x509Re.FindString(msg)
	case apierrors.IsForbidden(err):
		out.Reason = Forbidden
		if m := forbiddenRe.FindStringSubmatch(msg); m != nil {
			out.User, out.Verb, out.Resource, out.Namespace = m[1], m[2], m[3], m[5]
			if m[4] != "" {
				out.Resource += "." + m[4]
			}
		}
	case apierrors.IsUnauthorized(err):
		out.Reason = Unauthorized
	case apierrors.IsNotFound(err) && nsMissingRe.MatchString(msg):
		out.Reason, out.Namespace = NamespaceNotFound, nsMissingRe.FindStringSubmatch(msg)[1]
	case apierrors.IsNotFound(err):
		out.Reason = NotFound
	case apierrors.IsAlreadyExists(err):
		out.Reason = AlreadyExists
	case apierrors.IsConflict(err):
		out.Reason = Conflict
	case immutable != "":
		out.Reason, out.Field, out.Kind = Immutable, immutable, status.Status().Details.Kind
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		out.Reason = Invalid
	case apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) || isStatus && status.Status().Code >= 500:
		out.Reason = Unavailable
	case isNetError(err) || containsAny(msg, transient):
		out.Reason = Unavailable
	}
	return out
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// shorten keeps error text readable: a rejected set can produce one line per field.
func shorten(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 12 {
		lines = append(lines[:12], fmt.Sprintf("... (%d more lines)", len(lines)-12))
	}
	s = strings.Join(lines, "\n")
	if len(s) > 4000 {
		s = s[:4000] + "..."
	}
	return s
}
