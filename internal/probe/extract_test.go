// Tests of the extraction: on both sample apps rendered as a deploy renders them (the FastAPI app's
// /readyz and /healthz on port http=8000; shop-api's /ready, /live and startupProbe on web=9090), and
// on Deployments made to hit each rule: which container, named and numeric ports, handlers that are
// not probed, and the errors that say what to fix.
package probe

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/render"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// rendered renders an overlay of a sample app with image pinned, as a deploy does.
func rendered(t *testing.T, dir, overlay, image string) []byte {
	t.Helper()
	fsys := os.DirFS(dir)
	id, err := render.ResolveIdentity(fsys, overlay, render.Identity{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := render.Render(fsys, render.Options{Overlay: overlay, Image: image, ImageName: id.ImageName, AppName: id.AppName})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSampleApps(t *testing.T) {
	fastapi := func(ns string) *App {
		return &App{
			Deployment: ns + "/fastapi-app", Container: "app", Image: "registry.test/fastapi-app@" + digest,
			Ports: []Port{{"http", 8000, "TCP"}}, Env: []Env{{"PORT", "8000"}},
			Probes: []HTTPGet{
				{Kind: Readiness, Path: "/readyz", Port: 8000, PortName: "http", Scheme: "http", Timeout: time.Second, Period: 5 * time.Second, FailureThreshold: 3},
				{Kind: Liveness, Path: "/healthz", Port: 8000, PortName: "http", Scheme: "http", Timeout: time.Second, Period: 10 * time.Second, InitialDelay: 5 * time.Second, FailureThreshold: 3},
			},
			Skipped: []Skipped{{Startup, "not defined"}},
		}
	}
	shop := func(ns string) *App {
		return &App{
			Deployment: ns + "/shop-api", Container: "api", Image: "registry.test/shop-api:v7",
			Ports: []Port{{"web", 9090, "TCP"}}, Env: []Env{{"PORT", "9090"}},
			EnvFrom: []string{"envFrom configMap " + mustFind(t, rendered(t, "../../testdata/shop-api/k8s", strings.TrimPrefix(ns, "shop-"), "registry.test/shop-api:v7"), "shop-api-config-")},
			Probes: []HTTPGet{
				{Kind: Startup, Path: "/live", Port: 9090, PortName: "web", Scheme: "http", Timeout: time.Second, Period: 2 * time.Second, FailureThreshold: 15},
				{Kind: Readiness, Path: "/ready", Port: 9090, PortName: "web", Scheme: "http", Timeout: time.Second, Period: 5 * time.Second, FailureThreshold: 2},
				{Kind: Liveness, Path: "/live", Port: 9090, PortName: "web", Scheme: "http", Timeout: time.Second, Period: 10 * time.Second, FailureThreshold: 3},
			},
		}
	}
	tests := []struct {
		name, dir, overlay, image, lookFor string
		want                               *App
	}{
		{"fastapi dev", "../../k8s", "dev", "registry.test/fastapi-app@" + digest, "registry.test/fastapi-app:other-tag", fastapi("fastapi-dev")},
		{"fastapi prod", "../../k8s", "prod", "registry.test/fastapi-app@" + digest, "registry.test/fastapi-app@" + digest, fastapi("fastapi-prod")},
		{"shop-api qa", "../../testdata/shop-api/k8s", "qa", "registry.test/shop-api:v7", "registry.test/shop-api", shop("shop-qa")},
		{"shop-api live", "../../testdata/shop-api/k8s", "live", "registry.test/shop-api:v7", "registry.test/shop-api:v7", shop("shop-live")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromManifests(rendered(t, tt.dir, tt.overlay, tt.image), tt.lookFor)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

// mustFind returns the word of rendered that starts with prefix (a generated ConfigMap's hashed name).
func mustFind(t *testing.T, rendered []byte, prefix string) string {
	t.Helper()
	for _, w := range strings.Fields(string(rendered)) {
		if strings.HasPrefix(w, prefix) {
			return w
		}
	}
	t.Fatalf("no %s* in the rendered manifests", prefix)
	return ""
}

// deployment is a rendered Deployment whose containers are given as YAML list items.
func deployment(name string, containers ...string) string {
	return `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: ns}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
` + strings.Join(containers, "") + "\n"
}

const webPorts = `
        ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 9000}]`

func TestWhichContainerAndWhichProbes(t *testing.T) {
	app := `
      - name: app
        image: reg.test/web@` + digest + webPorts + `
        env: [{name: PORT, value: "8080"}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        envFrom: [{secretRef: {name: creds}}]
        startupProbe: {exec: {command: ["true"]}}
        readinessProbe: {httpGet: {path: /r, port: admin, scheme: HTTPS, httpHeaders: [{name: X-A, value: "1"}]}, timeoutSeconds: 3}
        livenessProbe: {tcpSocket: {port: http}}`
	sidecar := `
      - name: proxy
        image: reg.test/envoy:1
        readinessProbe: {httpGet: {path: /ready, port: 15000}}`
	got, err := FromManifests([]byte(deployment("other", sidecar)+deployment("web", sidecar, app)), "reg.test/web:v2")
	if err != nil {
		t.Fatal(err)
	}
	want := []HTTPGet{{Kind: Readiness, Path: "/r", Port: 9000, PortName: "admin", Scheme: "https", Headers: []Header{{"X-A", "1"}},
		Timeout: 3 * time.Second, Period: DefaultPeriod, FailureThreshold: DefaultFailureThreshold}}
	if got.Deployment != "ns/web" || got.Container != "app" || !reflect.DeepEqual(got.Probes, want) {
		t.Errorf("got %s container %s probes %+v", got.Deployment, got.Container, got.Probes)
	}
	if !reflect.DeepEqual(got.Env, []Env{{"PORT", "8080"}}) || !reflect.DeepEqual(got.EnvFrom, []string{"POD (valueFrom)", "envFrom secret creds"}) {
		t.Errorf("env %v, from %v", got.Env, got.EnvFrom)
	}
	if len(got.Skipped) != 2 || !strings.HasPrefix(got.Skipped[0].Reason, "exec:") || got.Skipped[0].Kind != Startup ||
		!strings.HasPrefix(got.Skipped[1].Reason, "tcpSocket:") || got.Skipped[1].Kind != Liveness {
		t.Errorf("skipped %+v", got.Skipped)
	}
}

func TestPortsResolveAsTheKubeletDoes(t *testing.T) {
	tests := []struct {
		port   string
		want   int32
		errHas string
	}{
		{"8080", 8080, ""},
		{"http", 8080, ""},
		{`"9000"`, 9000, ""}, // a number written as a string: the kubelet's last resort
		{"metrics", 0, `port "metrics" is not among the container's ports (http=8080, admin=9000)`},
		{"70000", 0, "not a valid port number"},
	}
	for _, tt := range tests {
		t.Run(tt.port, func(t *testing.T) {
			c := `
      - name: app
        image: web` + webPorts + `
        readinessProbe: {httpGet: {path: /, port: ` + tt.port + `}}`
			got, err := FromManifests([]byte(deployment("web", c)), "web")
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), "readinessProbe") {
					t.Fatalf("error %v, want one about readinessProbe containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Probes[0].Port != tt.want {
				t.Errorf("port %d, want %d", got.Probes[0].Port, tt.want)
			}
		})
	}
}

func TestErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		name, manifests, image string
		errHas                 []string
	}{
		{"no deployment", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "web", []string{"no Deployment"}},
		{"no container runs the image", deployment("web", "\n      - {name: app, image: 'reg.test/web:1'}"), "reg.test/api:1",
			[]string{"no Deployment container runs image reg.test/api", "ns/web container app runs reg.test/web:1", "pass the image"}},
		{"two containers run it", deployment("a", "\n      - {name: app, image: web}") + deployment("b", "\n      - {name: worker, image: web}"), "web",
			[]string{"2 containers run image web", "deployment/ns/a container app, deployment/ns/b container worker"}},
		{"no probes", deployment("web", "\n      - {name: app, image: web}"), "web",
			[]string{"has no probe preview can check", "readinessProbe: not defined", "give it an httpGet readinessProbe"}},
		{"only exec and grpc", deployment("web", `
      - name: app
        image: web
        readinessProbe: {exec: {command: ["true"]}}
        livenessProbe: {grpc: {port: 9000}}`), "web", []string{"readinessProbe: exec:", "livenessProbe: grpc:"}},
		{"a probe to another host", deployment("web", `
      - name: app
        image: web
        readinessProbe: {httpGet: {host: example.com, path: /, port: 80}}`), "web", []string{"httpGet to host example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromManifests([]byte(tt.manifests), tt.image)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestProbeURLAndString(t *testing.T) {
	p := HTTPGet{Kind: Readiness, Path: "/readyz", Port: 8000, PortName: "http", Scheme: "http", Timeout: time.Second}
	if got := p.URL("app"); got != "http://app:8000/readyz" {
		t.Errorf("URL %s", got)
	}
	if got := p.String(); got != "readiness GET http://:http(8000)/readyz (timeout 1s)" {
		t.Errorf("String %s", got)
	}
	if got := p.urlAt("127.0.0.1:31000"); got != "http://127.0.0.1:31000/readyz" {
		t.Errorf("urlAt host:port %s", got)
	}
}
