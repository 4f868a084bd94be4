// Package probe reads an app's probes from its rendered Deployment and runs them the way the kubelet
// will. Preview runs the built image and probes it before any cluster is involved; the probes must be
// the overlay's own (path, named port, scheme, headers, timeout), not a hard-coded /healthz, or a
// preview passes for an image that every real pod would fail.
//
// This file extracts: which container is the app's, its httpGet probes with named ports resolved, its
// ports and its literal env (so the image can be run with the same PORT).
package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/render"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kind is which probe: the kubelet runs startup first, then readiness and liveness.
type Kind string

// Kinds of probe.
const (
	Startup   Kind = "startup"
	Readiness Kind = "readiness"
	Liveness  Kind = "liveness"
)

// Defaults the API server fills in for a probe that leaves them out.
const (
	DefaultTimeout          = time.Second
	DefaultPeriod           = 10 * time.Second
	DefaultFailureThreshold = 3
)

// HTTPGet is one httpGet probe, resolved against its container.
type HTTPGet struct {
	Kind             Kind
	Path             string
	Port             int32  // the number, a named port resolved
	PortName         string // the name the probe used, if any
	Scheme           string // "http" or "https"
	Headers          []Header
	Timeout          time.Duration
	Period           time.Duration
	InitialDelay     time.Duration
	FailureThreshold int
}

// Header is one of a probe's httpHeaders, in order.
type Header struct{ Name, Value string }

// Port is one of the container's ports.
type Port struct {
	Name     string
	Port     int32
	Protocol string
}

// Env is a variable with a literal value.
type Env struct{ Name, Value string }

// Skipped is a probe that is not checked, and why.
type Skipped struct {
	Kind   Kind
	Reason string
}

// App is the app's container as its Deployment defines it.
type App struct {
	Deployment string // namespace/name
	Container  string
	Image      string
	Ports      []Port
	Env        []Env    // literal values, in order
	EnvFrom    []string // what the image will not get in a preview: valueFrom variables and envFrom sources
	Probes     []HTTPGet
	Skipped    []Skipped
}

// FromManifests finds, among the rendered manifests' Deployments, the one container running image (a
// reference such as the pushed image, or the logical name; compared by repository name, so the tag or
// digest render pinned does not matter) and extracts its probes. It fails when no container or more than
// one runs the image, when a probe names a port the container lacks, and when no probe can be checked.
func FromManifests(rendered []byte, image string) (*App, error) {
	objs, err := kube.ParseManifests(rendered)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var set kube.Objects
	for _, o := range objs {
		if err := set.Add(o.Body); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
	}
	d, c, err := appContainer(set.Deployments, image)
	if err != nil {
		return nil, err
	}
	return FromContainer(d, c)
}

// appContainer picks the one container of deployments that runs image.
func appContainer(deployments []appsv1.Deployment, image string) (*appsv1.Deployment, *corev1.Container, error) {
	if len(deployments) == 0 {
		return nil, nil, errors.New("probe: the rendered manifests hold no Deployment; preview probes the app's Deployment container")
	}
	want, _, _ := render.SplitImage(image)
	var matches, seen []string
	var md *appsv1.Deployment
	var mc *corev1.Container
	for i := range deployments {
		d := &deployments[i]
		for j := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[j]
			seen = append(seen, fmt.Sprintf("%s container %s runs %s", name(d), c.Name, c.Image))
			if got, _, _ := render.SplitImage(c.Image); got == want {
				matches = append(matches, fmt.Sprintf("%s container %s", name(d), c.Name))
				md, mc = d, c
			}
		}
	}
	switch len(matches) {
	case 1:
		return md, mc, nil
	case 0:
		return nil, nil, fmt.Errorf("probe: no Deployment container runs image %s (%s); pass the image the manifests were rendered with", want, strings.Join(seen, "; "))
	default:
		return nil, nil, fmt.Errorf("probe: %d containers run image %s (%s); preview probes one: give the others another image", len(matches), want, strings.Join(matches, ", "))
	}
}

func name(d *appsv1.Deployment) string {
	if d.Namespace == "" {
		return "deployment/" + d.Name
	}
	return "deployment/" + d.Namespace + "/" + d.Name
}

// FromContainer extracts container c of Deployment d.
func FromContainer(d *appsv1.Deployment, c *corev1.Container) (*App, error) {
	app := &App{Deployment: strings.TrimPrefix(name(d), "deployment/"), Container: c.Name, Image: c.Image}
	for _, p := range c.Ports {
		app.Ports = append(app.Ports, Port{Name: p.Name, Port: p.ContainerPort, Protocol: string(p.Protocol)})
	}
	app.Env, app.EnvFrom = env(c)
	for _, kp := range []struct {
		kind  Kind
		probe *corev1.Probe
	}{{Startup, c.StartupProbe}, {Readiness, c.ReadinessProbe}, {Liveness, c.LivenessProbe}} {
		if err := app.add(kp.kind, kp.probe, c); err != nil {
			return nil, fmt.Errorf("probe: %s container %s: %w", name(d), c.Name, err)
		}
	}
	if len(app.Probes) == 0 {
		return nil, fmt.Errorf("probe: %s container %s has no probe preview can check (%s); give it an httpGet readinessProbe",
			name(d), c.Name, app.skippedText())
	}
	return app, nil
}

// add records probe p of kind: as an HTTPGet to check, or as skipped with the reason.
func (a *App) add(kind Kind, p *corev1.Probe, c *corev1.Container) error {
	if p == nil {
		a.Skipped = append(a.Skipped, Skipped{kind, "not defined"})
		return nil
	}
	if reason := unchecked(p); reason != "" {
		a.Skipped = append(a.Skipped, Skipped{kind, reason})
		return nil
	}
	h, err := httpGet(kind, p, c)
	if err != nil {
		return err
	}
	a.Probes = append(a.Probes, h)
	return nil
}

// unchecked says why a probe is not checked, or "" when it is an httpGet preview can run.
func unchecked(p *corev1.Probe) string {
	switch {
	case p.Exec != nil:
		return "exec: runs a command inside the container, which preview does not probe (it probes over the network, as for httpGet)"
	case p.TCPSocket != nil:
		return "tcpSocket: not probed; preview checks httpGet probes only (the service being up already means the port accepts connections)"
	case p.GRPC != nil:
		return "grpc: not probed; preview has no gRPC health client"
	case p.HTTPGet == nil:
		return "defines no handler"
	case p.HTTPGet.Host != "":
		return fmt.Sprintf("httpGet to host %s, not to the container: not probed", p.HTTPGet.Host)
	}
	return ""
}

func httpGet(kind Kind, p *corev1.Probe, c *corev1.Container) (HTTPGet, error) {
	g := p.HTTPGet
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return HTTPGet{}, fmt.Errorf("%sProbe: %w", kind, err)
	}
	h := HTTPGet{
		Kind: kind, Path: g.Path, Port: port, Scheme: strings.ToLower(string(g.Scheme)),
		Timeout:          seconds(p.TimeoutSeconds, DefaultTimeout),
		Period:           seconds(p.PeriodSeconds, DefaultPeriod),
		InitialDelay:     seconds(p.InitialDelaySeconds, 0),
		FailureThreshold: int(p.FailureThreshold),
	}
	if g.Port.Type == intstr.String {
		h.PortName = g.Port.StrVal
	}
	if h.Scheme == "" {
		h.Scheme = "http"
	}
	if h.FailureThreshold <= 0 {
		h.FailureThreshold = DefaultFailureThreshold
	}
	for _, hd := range g.HTTPHeaders {
		h.Headers = append(h.Headers, Header{hd.Name, hd.Value})
	}
	return h, nil
}

// resolvePort follows the kubelet: a name is looked up among the container's ports, else read as a
// number; the result must be a valid port.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int32, error) {
	n := p.IntValue()
	if p.Type == intstr.String {
		n = -1
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				n = int(cp.ContainerPort)
				break
			}
		}
		if n < 0 {
			var err error
			if n, err = strconv.Atoi(p.StrVal); err != nil {
				return 0, fmt.Errorf("port %q is not among the container's ports (%s); the kubelet would fail this probe: name one of them", p.StrVal, portNames(c))
			}
		}
	}
	if n <= 0 || n > 65535 {
		return 0, fmt.Errorf("port %d is not a valid port number", n)
	}
	return int32(n), nil
}

func portNames(c *corev1.Container) string {
	var names []string
	for _, cp := range c.Ports {
		names = append(names, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
	}
	if len(names) == 0 {
		return "it declares none"
	}
	return strings.Join(names, ", ")
}

func seconds(s int32, dflt time.Duration) time.Duration {
	if s <= 0 {
		return dflt
	}
	return time.Duration(s) * time.Second
}

// env splits the container's environment into literal values and what only a cluster supplies.
func env(c *corev1.Container) (literal []Env, from []string) {
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			from = append(from, e.Name+" (valueFrom)")
			continue
		}
		literal = append(literal, Env{e.Name, e.Value})
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			from = append(from, "envFrom configMap "+ef.ConfigMapRef.Name)
		case ef.SecretRef != nil:
			from = append(from, "envFrom secret "+ef.SecretRef.Name)
		}
	}
	return literal, from
}

func (a *App) skippedText() string {
	var parts []string
	for _, s := range a.Skipped {
		parts = append(parts, fmt.Sprintf("%sProbe: %s", s.Kind, s.Reason))
	}
	return strings.Join(parts, "; ")
}

// URL is where the probe goes on host (the service's hostname; the kubelet uses the pod IP).
func (h HTTPGet) URL(host string) string {
	return h.Scheme + "://" + joinHostPort(host, h.Port) + h.Path
}

// String is how the probe reads in a report: "readiness GET http://:http(8000)/readyz".
func (h HTTPGet) String() string {
	port := strconv.Itoa(int(h.Port))
	if h.PortName != "" {
		port = h.PortName + "(" + port + ")"
	}
	return fmt.Sprintf("%s GET %s://:%s%s (timeout %s)", h.Kind, h.Scheme, port, h.Path, h.Timeout)
}
