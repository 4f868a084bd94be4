// Pod logs for tests. kwok serves the kubelet API and reads a container's log from the file a
// ClusterLogs object names; SetLogs writes that file (in the CRI log format kwok parses) and the object.
// It guards against a log assertion racing kwok: SetLogs returns only once kwok itself serves the lines.
package kubecluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"dagger/ship/internal/controlplane"
)

// dnsLabel is what Kubernetes accepts as a namespace or a container name.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// logsProbePod is the pod name SetLogs asks kwok about: the ClusterLogs matches every name in its
// namespace, so kwok answers for a pod that does not exist with what a real one would get.
const logsProbePod = "kubecluster-setlogs-probe"

// SetLogs makes the container named container of every pod in namespace, existing or yet to come,
// log lines (to stdout, in order, one line each); a later call for the same namespace and container
// replaces them, and no lines means an empty log. The previous instance of a restarted container
// (what `kubectl logs --previous` and the deployer's diagnosis read for CrashLoopBackOff) logged the
// same lines. It returns once kwok serves them, so a test can set logs before or after creating pods.
func (c *Cluster) SetLogs(ctx context.Context, namespace, container string, lines ...string) error {
	if err := checkLogsInput(namespace, container, lines); err != nil {
		return err
	}
	client, err := c.kubeletClient()
	if err != nil {
		return err
	}
	path := filepath.Join(c.dir, "pod-logs", namespace+"_"+container+".log")
	if err := writeCRILog(path, lines, time.Now()); err != nil {
		return fmt.Errorf("kubecluster: SetLogs: %w", err)
	}
	body, err := clusterLogs(namespace, container, path)
	if err != nil {
		return err
	}
	// The object is the same on every call for this pair (only the file changes), so an existing one
	// is already right.
	if err := c.create(ctx, "/apis/kwok.x-k8s.io/v1alpha1/clusterlogs", "application/json", body); err != nil {
		return fmt.Errorf("kubecluster: SetLogs: creating the ClusterLogs object: %w", err)
	}
	want := ""
	if len(lines) > 0 {
		want = strings.Join(lines, "\n") + "\n"
	}
	return c.waitKwokLogs(ctx, client, namespace, container, want)
}

func checkLogsInput(namespace, container string, lines []string) error {
	if !dnsLabel.MatchString(namespace) {
		return fmt.Errorf("kubecluster: SetLogs: namespace %q is not a namespace name (lowercase letters, digits and '-', at most 63)", namespace)
	}
	if !dnsLabel.MatchString(container) {
		return fmt.Errorf("kubecluster: SetLogs: container %q is not a container name (lowercase letters, digits and '-', at most 63)", container)
	}
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return fmt.Errorf("kubecluster: SetLogs: line %d (%q) holds a line break; pass one line per argument", i+1, l)
		}
	}
	return nil
}

// writeCRILog writes lines as a container runtime's log file (`<RFC3339Nano> stdout F <line>`, the
// format the kubelet, and kwok, read), replacing path at once so kwok never reads half a file.
func writeCRILog(path string, lines []string, at time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for i, l := range lines {
		// A microsecond apart, so `kubectl logs --timestamps` shows them in order.
		fmt.Fprintf(&b, "%s stdout F %s\n", at.Add(time.Duration(i)*time.Microsecond).UTC().Format(time.RFC3339Nano), l)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clusterLogs is the ClusterLogs object (JSON) pointing the container of namespace's pods at path, for
// the current and the previous instance alike.
func clusterLogs(namespace, container, path string) ([]byte, error) {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": namespace + "." + container},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []string{namespace}},
			"logs":     []map[string]any{{"containers": []string{container}, "logsFile": path, "previousLogsFile": path}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("kubecluster: SetLogs: encoding the ClusterLogs object: %w", err)
	}
	return body, nil
}

// waitKwokLogs asks kwok's kubelet API directly (as the apiserver does, verifying it with the
// kubelet CA) until it serves want for the container: kwok learns of a new ClusterLogs through a watch.
func (c *Cluster) waitKwokLogs(ctx context.Context, client *http.Client, namespace, container, want string) error {
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(controlplane.KwokNodeIP, strconv.Itoa(c.cfg.KubeletPort)),
		Path: "/containerLogs/" + namespace + "/" + logsProbePod + "/" + container}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitUntil(ctx, c.proc("kwok"), "kwok to serve the logs set for "+namespace+"/"+container, func(ctx context.Context) error {
		body, err := httpGet(ctx, client, u.String())
		if err != nil {
			return err
		}
		if string(body) != want {
			return fmt.Errorf("kwok serves %q, want %q", body, want)
		}
		return nil
	})
}

// kubeletClient is an HTTPS client that trusts only the kubelet CA.
func (c *Cluster) kubeletClient() (*http.Client, error) {
	if c.cfg.KubeletPort == 0 || c.pki == nil {
		return nil, errors.New("kubecluster: SetLogs: the cluster is not running (use Start or Shared), so kwok serves no pod logs")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.pki.KubeletCA) {
		return nil, errors.New("kubecluster: the kubelet CA holds no certificate")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: roots}}}, nil
}
