// ForService points a kubeconfig at the hostname a service binding gives the
// host's API server inside the container. It guards against the tempting
// fix that breaks security: the new hostname is not in the server
// certificate, so instead of skipping verification we pin tls-server-name to
// the name the certificate was issued for.
package kubeconfig

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ForService returns a copy whose server is https://host:port (keeping any
// path of the original URL) and whose tls-server-name is the original
// server's host, unless one was already set. It never disables verification.
func (c *Config) ForService(host string, port int) (*Config, error) {
	if err := validateServiceAddr(host, port); err != nil {
		return nil, err
	}
	orig := c.serverURL()
	if orig.Scheme != "https" {
		return nil, fmt.Errorf("%w: cluster %q serves plain http at %s; a service binding only carries the https API server "+
			"(kind, minikube, k3d and Docker Desktop all serve https)", ErrBadInput, c.clusterName, c.Server())
	}
	if c.cluster.InsecureSkipTLSVerify {
		return nil, fmt.Errorf("%w: cluster %q sets insecure-skip-tls-verify; remove it (see Portable)", ErrNotPortable, c.clusterName)
	}
	out := c.clone()
	u := *orig
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	out.cluster.Server = u.String()
	if out.cluster.TLSServerName == "" {
		out.cluster.TLSServerName = orig.Hostname()
	}
	return out, nil
}

func validateServiceAddr(host string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%w: service port %d is outside 1-65535", ErrBadInput, port)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(strings.ToLower(host)); len(errs) > 0 {
		return fmt.Errorf("%w: service host %q is not a hostname or IP address (give the bare name, without scheme or port): %s",
			ErrBadInput, host, strings.Join(errs, "; "))
	}
	return nil
}
