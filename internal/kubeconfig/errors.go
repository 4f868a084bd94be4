// Errors the kubeconfig package returns. They are sentinel values wrapped
// with context so callers can branch with errors.Is, and their messages say
// what to fix. None of them ever carries a token, key or certificate.
package kubeconfig

import (
	"errors"
	"fmt"
)

var (
	// ErrEmpty: the kubeconfig has no content.
	ErrEmpty = errors.New("kubeconfig is empty")
	// ErrInvalid: the kubeconfig is not YAML of the kubeconfig shape.
	ErrInvalid = errors.New("kubeconfig is not valid")
	// ErrNoContexts: the kubeconfig defines no context to select.
	ErrNoContexts = errors.New("kubeconfig has no contexts")
	// ErrUnknownContext: the requested (or current) context does not exist.
	ErrUnknownContext = errors.New("kubeconfig context not found")
	// ErrDanglingReference: a context names a cluster or user that is not defined.
	ErrDanglingReference = errors.New("kubeconfig context references a missing entry")
	// ErrNotPortable: the kubeconfig cannot work inside a container as it is.
	ErrNotPortable = errors.New("kubeconfig cannot be used inside a container")
	// ErrBadInput: an argument to ForService or ForToken is invalid.
	ErrBadInput = errors.New("invalid kubeconfig input")
	// ErrLoopback: the server is on the developer's machine and no service
	// was given to reach it; see LoopbackError.
	ErrLoopback = errors.New("kubernetes API server is on this machine's loopback")
)

// LoopbackError says that the API server address only means something on
// the host, so a container cannot reach it without a service binding.
type LoopbackError struct {
	Server string // redacted server URL from the kubeconfig
	Port   string // port to bind through --kube-api
}

func (e *LoopbackError) Error() string {
	return fmt.Sprintf("%v: the kubeconfig points at %s, which inside the kubectl container is the container itself; "+
		"pass --kube-api tcp://localhost:%s so the module can reach the API server on your machine", ErrLoopback, e.Server, e.Port)
}

// Unwrap lets errors.Is(err, ErrLoopback) match.
func (e *LoopbackError) Unwrap() error { return ErrLoopback }

// RequireReachable fails with a *LoopbackError when c's server is a loopback
// address and the caller has no service binding to reach it.
func RequireReachable(c *Config, haveService bool) error {
	if haveService || !c.IsLoopback() {
		return nil
	}
	return &LoopbackError{Server: c.Server(), Port: c.port()}
}
