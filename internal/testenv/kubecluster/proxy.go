// The tests' runner of the deployer's transport: a local `kubectl proxy` against this control plane, started
// with the same arguments the module gives the proxy in its kubectl container (the caller passes
// kube.ProxyArgs; this package stays on the standard library). A test that goes through it exercises what a
// deploy on the engine sends, proxy included.
package kubecluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var servingRe = regexp.MustCompile(`Starting to serve on (\S+)`)

// Proxy starts `kubectl <args>` (a proxy on port 0) with the given kubeconfig, stops it when the test ends,
// and returns its base URL, http://127.0.0.1:<port>.
func (c *Cluster) Proxy(tb testing.TB, kubeconfig string, args []string) string {
	tb.Helper()
	url, stop, err := c.StartProxy(kubeconfig, args)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return url
}

// StartProxy is Proxy for callers without a testing.TB (benchmarks' setup, TestMain).
func (c *Cluster) StartProxy(kubeconfig string, args []string) (url string, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(c.dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.KubectlPath, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=*")
	cmd.SysProcAttr = sysProcAttr()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, fmt.Errorf("starting kubectl proxy: %w", err)
	}
	stop = func() { cancel(); _ = cmd.Wait() }
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a, stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("kubectl proxy did not start within 30 s: %s", stderr.String())
	}
}
