// ForToken writes the kubeconfig the module uses for EKS, where it mints a
// short-lived bearer token itself. It guards against a kubeconfig that would
// silently fall back to system roots (no CA) or go out unauthenticated (no
// token), and keeps the token out of every error message.
package kubeconfig

import (
	"fmt"
	"strings"

	api "k8s.io/client-go/tools/clientcmd/api"
)

// ForToken builds a single-context kubeconfig named clusterName for server,
// trusting caData (PEM) and authenticating with the bearer token.
func ForToken(clusterName, server string, caData []byte, token string) ([]byte, error) {
	if strings.TrimSpace(clusterName) == "" {
		return nil, fmt.Errorf("%w: cluster name is empty", ErrBadInput)
	}
	u, err := parseServer(server)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("%w: cluster %q: server must be an https URL (the cluster endpoint from DescribeCluster), got %s",
			ErrBadInput, clusterName, redactURL(server))
	}
	if len(caData) == 0 {
		return nil, fmt.Errorf("%w: cluster %q: CA data is empty; pass the cluster's certificateAuthority.data (base64-decoded)", ErrBadInput, clusterName)
	}
	if err := requirePEM(caData, "cluster", clusterName, "certificate-authority-data"); err != nil {
		return nil, fmt.Errorf("%w (the CA must be PEM; decode the base64 from DescribeCluster first)", err)
	}
	if strings.TrimSpace(token) == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("%w: cluster %q: token is empty or contains whitespace", ErrBadInput, clusterName)
	}
	c := &Config{
		contextName: clusterName,
		clusterName: clusterName,
		userName:    clusterName,
		context:     api.Context{Cluster: clusterName, AuthInfo: clusterName},
		cluster:     api.Cluster{Server: server, CertificateAuthorityData: caData},
		user:        api.AuthInfo{Token: token},
	}
	return c.Bytes()
}
