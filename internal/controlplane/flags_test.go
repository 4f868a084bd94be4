// Tests of the flag sets: golden files pin the exact argv of both layouts (a change to a flag shows up
// as a diff to review), and property tests check what matters and that nothing contradicts itself.
package controlplane

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/golden"
)

// loopbackForTest is the test harness's layout at fixed ports and dir, so its argv is reproducible.
func loopbackForTest() Config {
	return Loopback("/tmp/kubecluster-x", Ports{EtcdClient: 40001, EtcdPeer: 40002, APIServer: 40003, Kubelet: 40004})
}

type component struct {
	name string
	args []string
}

func components(c Config) []component {
	return []component{
		{"etcd", c.EtcdArgs()},
		{"kube-apiserver", c.APIServerArgs()},
		{"kube-controller-manager", c.ControllerManagerArgs()},
		{"kube-scheduler", c.SchedulerArgs()},
		{"kwok", c.KwokArgs()},
	}
}

func render(c Config) string {
	var b strings.Builder
	for _, comp := range components(c) {
		b.WriteString("# " + comp.name + "\n")
		for _, a := range comp.args {
			b.WriteString(a + "\n")
		}
	}
	return b.String()
}

func TestArgsGolden(t *testing.T) {
	for name, cfg := range map[string]Config{"loopback": loopbackForTest(), "service": Service()} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", name+".args"), []byte(render(cfg)))
		})
	}
}

// flags parses --name=value args; every arg must have that form and no flag may repeat.
func flags(t *testing.T, comp component) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range comp.args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Errorf("%s: %q is not --name=value", comp.name, a)
			continue
		}
		if prev, dup := m[name]; dup {
			t.Errorf("%s: --%s given twice (%q and %q)", comp.name, name, prev, value)
		}
		m[name] = value
	}
	return m
}

func allFlags(t *testing.T, c Config) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, comp := range components(c) {
		out[comp.name] = flags(t, comp)
	}
	return out
}

// The settings the harness's proofs rest on (FACTS §3): each must be there, in both layouts.
func TestArgsCarryWhatMatters(t *testing.T) {
	want := map[string]map[string]string{
		"etcd":                    {"unsafe-no-fsync": "true", "initial-cluster-state": "new"},
		"kube-apiserver":          {"authorization-mode": "RBAC", "endpoint-reconciler-type": "none", "disable-admission-plugins": "ServiceAccount", "service-cluster-ip-range": "10.0.0.0/24", "service-account-issuer": ServiceAccountIssuer, "kubelet-preferred-address-types": "InternalIP"},
		"kube-controller-manager": {"leader-elect": "false", "secure-port": "0", "use-service-account-credentials": "false"},
		"kube-scheduler":          {"leader-elect": "false", "secure-port": "0"},
		"kwok":                    {"manage-all-nodes": "true"},
	}
	for name, cfg := range map[string]Config{"loopback": loopbackForTest(), "service": Service()} {
		got := allFlags(t, cfg)
		for comp, fl := range want {
			for f, v := range fl {
				if got[comp][f] != v {
					t.Errorf("%s %s: --%s=%q, want %q", name, comp, f, got[comp][f], v)
				}
			}
		}
	}
}

// kwok serves the kubelet API (pod logs) only where the apiserver can reach it: in the tests, on
// loopback, with the cert the apiserver verifies; in preview not at all, and then it watches no
// Logs objects (their CRDs are not installed there).
func TestKwokServesTheKubeletAPIOnlyWithAPort(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want map[string]string // "" means the flag must be absent
	}{
		{"loopback", loopbackForTest(), map[string]string{
			"enable-crds": "Stage,Logs,ClusterLogs", "node-ip": KwokNodeIP, "node-port": "40004",
			"server-address": KwokNodeIP + ":40004", "tls-cert-file": "/tmp/kubecluster-x/pki/" + KubeletCertFile,
			"tls-private-key-file": "/tmp/kubecluster-x/pki/" + KubeletKeyFile,
		}},
		{"service", Service(), map[string]string{
			"enable-crds": "Stage", "node-ip": KwokNodeIP, "node-port": "", "server-address": "", "tls-cert-file": "", "tls-private-key-file": "",
		}},
	}
	for _, tt := range tests {
		f := allFlags(t, tt.cfg)
		for flag, want := range tt.want {
			if got, ok := f["kwok"][flag]; got != want || ok != (want != "") {
				t.Errorf("%s kwok --%s=%q (given: %v), want %q", tt.name, flag, got, ok, want)
			}
		}
		if got := f["kube-apiserver"]["kubelet-certificate-authority"]; got != tt.cfg.Path(KubeletCAFile) {
			t.Errorf("%s: apiserver trusts kubelets signed by %q, want the kubelet CA", tt.name, got)
		}
	}
}

// The components agree with each other: the apiserver uses the etcd URL etcd advertises, etcd's
// single-member cluster is itself, and every client of the apiserver uses the admin kubeconfig.
func TestArgsAgreeWithEachOther(t *testing.T) {
	for name, cfg := range map[string]Config{"loopback": loopbackForTest(), "service": Service()} {
		f := allFlags(t, cfg)
		if f["kube-apiserver"]["etcd-servers"] != f["etcd"]["advertise-client-urls"] {
			t.Errorf("%s: apiserver --etcd-servers=%s, etcd advertises %s", name, f["kube-apiserver"]["etcd-servers"], f["etcd"]["advertise-client-urls"])
		}
		if want := f["etcd"]["name"] + "=" + f["etcd"]["initial-advertise-peer-urls"]; f["etcd"]["initial-cluster"] != want {
			t.Errorf("%s: etcd --initial-cluster=%s, want %s", name, f["etcd"]["initial-cluster"], want)
		}
		for _, comp := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
			if got := f[comp]["kubeconfig"]; got != cfg.Path(AdminKubeconfigFile) {
				t.Errorf("%s %s: --kubeconfig=%s", name, comp, got)
			}
		}
		if f["kube-controller-manager"]["service-account-private-key-file"] != f["kube-apiserver"]["service-account-signing-key-file"] {
			t.Errorf("%s: controller-manager and apiserver sign service-account tokens with different keys", name)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// In containers the components listen on every interface and reach each other by service hostname.
func TestServiceArgsUseServiceHostnames(t *testing.T) {
	f := allFlags(t, Service())
	checks := []struct{ comp, flag, want string }{
		{"etcd", "listen-client-urls", "http://0.0.0.0:2379"},
		{"etcd", "advertise-client-urls", "http://etcd:2379"},
		{"etcd", "data-dir", ServiceEtcdData},
		{"kube-apiserver", "etcd-servers", "http://etcd:2379"},
		{"kube-apiserver", "bind-address", "0.0.0.0"},
		{"kube-apiserver", "advertise-address", "127.0.0.1"},
		{"kube-apiserver", "secure-port", "6443"},
	}
	for _, c := range checks {
		if got := f[c.comp][c.flag]; got != c.want {
			t.Errorf("%s --%s=%q, want %q", c.comp, c.flag, got, c.want)
		}
	}
	if _, ok := f["kube-apiserver"]["cert-dir"]; ok {
		t.Error("service layout passes --cert-dir, a directory nothing mounts")
	}
	if Service().Server != "https://kube-apiserver:6443" {
		t.Errorf("Server %s", Service().Server)
	}
}

// Every file argument of the service layout is one of PKI.Files at ServicePKIDir, and every one of
// PKI.Files is used: what the glue mounts is exactly what the flags read.
func TestServiceArgsReferenceExactlyTheFiles(t *testing.T) {
	cfg := Service()
	p, err := NewPKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var referenced []string
	for _, comp := range components(cfg) {
		for _, v := range flags(t, comp) {
			if strings.HasPrefix(v, ServicePKIDir+"/") {
				referenced = append(referenced, v)
			} else if strings.HasPrefix(v, "/") && v != ServiceEtcdData {
				t.Errorf("%s reads %s, which is neither mounted PKI nor etcd's data dir", comp.name, v)
			}
		}
	}
	var mounted []string
	for name := range p.Files() {
		mounted = append(mounted, cfg.Path(name))
	}
	slices.Sort(referenced)
	referenced = slices.Compact(referenced)
	slices.Sort(mounted)
	if !slices.Equal(referenced, mounted) {
		t.Errorf("flags reference\n  %v\nFiles() mounts\n  %v", referenced, mounted)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		errHas string
	}{
		{"service as is", func(*Config) {}, ""},
		{"loopback as is", func(c *Config) { *c = loopbackForTest() }, ""},
		{"advertise a hostname", func(c *Config) { c.AdvertiseAddress = "kube-apiserver" }, "not an IP"},
		{"server not in SANs", func(c *Config) { c.Server = "https://apiserver:6443" }, `"apiserver" is not among`},
		{"server IP not in SANs", func(c *Config) { c.Server = "https://10.9.9.9:6443" }, "not among"},
		{"relative PKI dir", func(c *Config) { c.PKIDir = "pki" }, "absolute PKIDir"},
		{"bad service CIDR", func(c *Config) { c.ServiceCIDR = "10.0.0.0" }, "ServiceCIDR"},
		{"etcd URL without host", func(c *Config) { c.EtcdClientURL = "etcd:2379" }, "EtcdClientURL"},
		{"no port", func(c *Config) { c.SecurePort = 0 }, "SecurePort"},
		{"kubelet port out of range", func(c *Config) { c.KubeletPort = 70000 }, "KubeletPort"},
		{"kubelet port is the apiserver's", func(c *Config) { c.KubeletPort = c.SecurePort }, "KubeletPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Service()
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
			if _, err := NewPKI(cfg); err == nil {
				t.Error("NewPKI accepted a config Validate refuses")
			}
		})
	}
}
