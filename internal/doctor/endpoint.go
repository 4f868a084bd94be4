// The endpoint check: does the cluster's API server answer over TLS signed
// by the CA EKS reports? It separates "unreachable" (private endpoint,
// firewall) from "wrong CA" from "answers": 401/403 still mean it answers,
// since this request carries no credentials on purpose.
package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"
)

func checkEndpoint(ctx context.Context, in Inputs, endpoint string, caPEM []byte) Check {
	ck := Check{Name: CheckEndpoint}
	if endpoint == "" {
		ck.Status, ck.Detail = Skip, "no endpoint known (needs eks:DescribeCluster or ClusterEndpoint)"
		return ck
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		ck.Status, ck.Detail, ck.Fix = Fail, "the cluster CA is not a PEM certificate", "pass the CA exactly as DescribeCluster returns it (base64-decoded)"
		return ck
	}
	status, err := getVersion(ctx, in.HTTPClient, endpoint, pool)
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	switch {
	case errors.As(err, &uerr), errors.As(err, &herr):
		ck.Status, ck.Detail = Fail, fmt.Sprintf("%s answers, but its certificate does not match the cluster CA: %v", endpoint, err)
		ck.Fix = "make sure the endpoint and CA come from the same cluster, and that no TLS-intercepting proxy is in the way"
	case err != nil:
		ck.Status, ck.Detail = Fail, fmt.Sprintf("%s does not answer: %v", endpoint, err)
		ck.Fix = "if the cluster endpoint is private, run inside its VPC; otherwise enable public access and allow the runner's IPs (publicAccessCidrs)"
	case status >= 500:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("%s answers HTTP %d", endpoint, status), "the API server is unhealthy: check the cluster in the EKS console"
	default:
		ck.Status, ck.Detail = Pass, fmt.Sprintf("%s answers (HTTP %d to an anonymous GET /version)", endpoint, status)
	}
	return ck
}

func getVersion(ctx context.Context, base *http.Client, endpoint string, pool *x509.CertPool) (int, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if base != nil {
		if t, ok := base.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/version", nil)
	if err != nil {
		return 0, fmt.Errorf("bad endpoint URL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
