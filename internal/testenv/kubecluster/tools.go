package kubecluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"dagger/ship/internal/controlplane"
)

// Versions of the binaries: controlplane's, which preview's images share. They must match
// .ci/tools and internal/tools/*/go.mod.
const (
	KubernetesVersion = controlplane.KubernetesVersion
	EtcdVersion       = controlplane.EtcdVersion
	KwokVersion       = controlplane.KwokVersion
)

// rootModule is the module whose root holds .ci/tools.
const rootModule = "dagger/ship"

// ToolsDir returns the directory of the binary cache, by the same rule as .ci/tools:
// $SHIP_TOOLS_DIR, or $HOME/.cache/ship/tools.
func ToolsDir() string {
	if d := os.Getenv("SHIP_TOOLS_DIR"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "ship", "tools")
}

// binaries lays out the cache: the path of each binary below a tools dir.
type binaries struct {
	etcd, apiserver, controllerManager, scheduler, kubectl, kwok string
}

func binariesIn(toolsDir string) binaries {
	k8s := filepath.Join(toolsDir, "kubernetes-"+KubernetesVersion)
	return binaries{
		etcd:              filepath.Join(toolsDir, "etcd-"+EtcdVersion, "etcd"),
		apiserver:         filepath.Join(k8s, "kube-apiserver"),
		controllerManager: filepath.Join(k8s, "kube-controller-manager"),
		scheduler:         filepath.Join(k8s, "kube-scheduler"),
		kubectl:           filepath.Join(k8s, "kubectl"),
		kwok:              filepath.Join(toolsDir, "kwok-"+KwokVersion, "kwok"),
	}
}

func (b binaries) all() []string {
	return []string{b.etcd, b.apiserver, b.controllerManager, b.scheduler, b.kubectl, b.kwok}
}

// missing returns the binaries that do not exist or are not executable.
func (b binaries) missing() []string {
	var out []string
	for _, p := range b.all() {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			out = append(out, p)
		}
	}
	return out
}

var ensureMu sync.Mutex

// EnsureTools returns ToolsDir() once every binary is there. If any is missing it runs
// .ci/tools (found by walking up from the working directory to the root of module
// dagger/ship), streaming its progress to stderr. A cold build takes ~17 minutes on
// 2 cores: longer than go test's default -timeout of 10m.
func EnsureTools() (string, error) {
	ensureMu.Lock()
	defer ensureMu.Unlock()

	dir := ToolsDir()
	if len(binariesIn(dir).missing()) == 0 {
		return dir, nil
	}
	root, err := findModuleRoot()
	if err != nil {
		return "", fmt.Errorf("kubecluster: binaries missing from %s and cannot find .ci/tools: %w", dir, err)
	}
	script := filepath.Join(root, ".ci", "tools")
	fmt.Fprintf(os.Stderr, "kubecluster: binaries missing from %s; running %s (a cold build takes ~17 min: "+
		"run it before `go test`, or pass -timeout 30m)\n", dir, script)

	cmd := exec.Command(script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SHIP_TOOLS_DIR="+dir)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubecluster: %s failed after %s: %w", script, time.Since(start).Round(time.Second), err)
	}
	if got := lastLine(stdout.String()); got != "" && got != dir {
		return "", fmt.Errorf("kubecluster: %s built into %q, expected %q", script, got, dir)
	}
	if m := binariesIn(dir).missing(); len(m) > 0 {
		return "", fmt.Errorf("kubecluster: %s succeeded but binaries are still missing: %s", script, strings.Join(m, ", "))
	}
	return dir, nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// findModuleRoot walks up from the working directory to the directory whose go.mod
// declares module dagger/ship.
func findModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above %s", rootModule, wd)
		}
		dir = parent
	}
}

func isRootModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			name := strings.Trim(strings.TrimSpace(rest), `"`)
			return name == rootModule
		}
	}
	return false
}

// tailFile returns about the last n lines of a log file, for error messages.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(-maxBytes, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
