// Typed kubectl failures. kubectl reports everything as text on stderr; this file turns the text into
// a Reason plus the verb/resource/namespace involved, so callers can branch (AlreadyExists means the lock
// is held, Unavailable means retry) and users get a message that says what to fix instead of a raw dump.
package kube

import (
	"fmt"
	"regexp"
	"strings"
)

// Reason classifies a kubectl failure.
type Reason string

const (
	Forbidden         Reason = "Forbidden"
	Unauthorized      Reason = "Unauthorized"
	NotFound          Reason = "NotFound"
	NamespaceNotFound Reason = "NamespaceNotFound"
	AlreadyExists     Reason = "AlreadyExists"
	Conflict          Reason = "Conflict"
	Invalid           Reason = "Invalid"
	Unavailable       Reason = "Unavailable" // apiserver unreachable or overloaded: worth retrying
	Failed            Reason = "Failed"      // anything else
)

// Error is a failed kubectl step.
type Error struct {
	Step      string
	Reason    Reason
	ExitCode  int
	User      string // Forbidden: the identity kubectl ran as
	Verb      string // Forbidden: e.g. "create"
	Resource  string // Forbidden: e.g. "deployments.apps"
	Namespace string // Forbidden / NamespaceNotFound
	Detail    string // kubectl's own words, trimmed
}

func (e *Error) Error() string {
	switch e.Reason {
	case Forbidden:
		where := "cluster-wide"
		if e.Namespace != "" {
			where = fmt.Sprintf("in namespace %q", e.Namespace)
		}
		return fmt.Sprintf("%s: forbidden: %s cannot %s %s %s; the CI identity needs the \"edit\" ClusterRole bound in that namespace (bootstrap grants it)",
			e.Step, quoteUser(e.User), e.Verb, e.Resource, where)
	case Unauthorized:
		return fmt.Sprintf("%s: the cluster rejected the credentials (Unauthorized): the token may have expired, or the identity has no EKS access entry; rerun bootstrap or check the kubeconfig", e.Step)
	case NamespaceNotFound:
		return fmt.Sprintf("%s: namespace %s does not exist: run bootstrap or create it", e.Step, e.Namespace)
	case Unavailable:
		return fmt.Sprintf("%s: the Kubernetes API server is unavailable: %s", e.Step, e.Detail)
	default:
		return fmt.Sprintf("%s: %s: %s", e.Step, e.Reason, e.Detail)
	}
}

func quoteUser(u string) string {
	if u == "" {
		return "the current identity"
	}
	return fmt.Sprintf("user %q", u)
}

// Is lets errors.Is(err, &kube.Error{Reason: kube.NotFound}) match on the reason alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Step == ""
}

// HasReason reports whether err is a kube *Error with reason r.
func HasReason(err error, r Reason) bool {
	for err != nil {
		if e, ok := err.(*Error); ok {
			return e.Reason == r
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

var (
	forbiddenRe = regexp.MustCompile(`User "([^"]*)" cannot (\S+) resource "([^"]*)" in API group "([^"]*)"(?: in the namespace "([^"]*)")?`)
	nsMissingRe = regexp.MustCompile(`namespaces "([^"]+)" not found`)
	unavailable = []string{"Unable to connect to the server", "The connection to the server", "connection refused", "(ServiceUnavailable)",
		"(InternalError)", "(Timeout)", "(TooManyRequests)", "TLS handshake timeout", "i/o timeout",
		"connection reset by peer", "the server is currently unable to handle the request", ": EOF",
		"http2: client connection lost", "context deadline exceeded", "etcdserver: ", "the server was unable to return a response"}
)

// Classify turns a non-zero kubectl exit into an *Error.
func Classify(s Step, res Result) *Error {
	msg := strings.TrimSpace(string(res.Stderr))
	e := &Error{Step: s.Name, ExitCode: res.ExitCode, Detail: shorten(msg), Reason: Failed}
	switch {
	case forbiddenRe.MatchString(msg):
		m := forbiddenRe.FindStringSubmatch(msg)
		e.Reason, e.User, e.Verb, e.Namespace = Forbidden, m[1], m[2], m[5]
		e.Resource = m[3]
		if m[4] != "" {
			e.Resource += "." + m[4]
		}
	case strings.Contains(msg, "(Forbidden)"):
		e.Reason = Forbidden
	case strings.Contains(msg, "Unauthorized") || strings.Contains(msg, "You must be logged in"):
		e.Reason = Unauthorized
	case nsMissingRe.MatchString(msg):
		e.Reason, e.Namespace = NamespaceNotFound, nsMissingRe.FindStringSubmatch(msg)[1]
	case strings.Contains(msg, "(NotFound)"):
		e.Reason = NotFound
	case strings.Contains(msg, "(AlreadyExists)"):
		e.Reason = AlreadyExists
	case strings.Contains(msg, "(Conflict)") || strings.Contains(msg, "the object has been modified"):
		e.Reason = Conflict
	case strings.Contains(msg, "is invalid") || strings.Contains(msg, "(Invalid)") || strings.Contains(msg, "(BadRequest)") ||
		strings.Contains(msg, "strict decoding error") || strings.Contains(msg, "unknown field"):
		e.Reason = Invalid
	case containsAny(msg, unavailable):
		e.Reason = Unavailable
	}
	return e
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// shorten keeps error text readable: kubectl can print one line per object.
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
