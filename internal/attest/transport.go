// This file reaches a registry the module's own container cannot: one on the caller's loopback. The engine
// pushes there itself, but ship's Go code runs in a container where "127.0.0.1:5000" is its own loopback;
// the caller passes the registry as a Dagger service, and connections for the registry's address go to the
// service's endpoint instead. The registry's name is unchanged, so references, the Host header and the
// scheme go-containerregistry picks (plain HTTP for a loopback address) stay those of the real registry.
package attest

import (
	"context"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DialVia returns a transport that connects to endpoint (host:port) whenever address is dialled. address
// is the registry as references name it (host or host:port).
func DialVia(address, endpoint string) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if sameAddress(addr, address) {
			addr = endpoint
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// sameAddress compares a dialled host:port with a registry address that may omit its port.
func sameAddress(dialled, registry string) bool {
	if dialled == registry {
		return true
	}
	host, port, err := net.SplitHostPort(dialled)
	if err != nil {
		return false
	}
	return host == registry && (port == "443" || port == "80")
}

// IsLoopback tells whether a registry address (host or host:port) is on the caller's loopback.
func IsLoopback(address string) bool {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
