// This file is preview: the whole pipeline on a machine with nothing but the dagger CLI and an engine.
// The image is tested, built, run and probed for real; the cluster is an ephemeral control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok) run as Dagger services from pinned
// upstream images, with certificates made here and flags from internal/controlplane (the same definition the
// tests' control plane uses); the deploys, the plan and the rollback are the real deploy code. It guards
// against a preview that proves nothing: the probes are the overlay's own, a failing one fails the preview
// with the response, and the report says plainly that the cluster's pods are simulated, and that the
// image's provenance was signed with an ephemeral key and verified in memory (preview pushes to no registry).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/controlplane"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/deploy"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/probe"
)

// PreviewCluster is a preview's cluster, kept running for chained functions, and the preview's report.
type PreviewCluster struct {
	// +private
	Text string
	// +private
	APIServer *dagger.Service
	// +private
	AdminKubeconfig *dagger.Secret
	// +private
	KubectlBase *dagger.Container
}

// Preview runs the whole pipeline inside the engine: test, build, run and probe the image, then deploy it to an ephemeral cluster.
//
// In order, each a named step: the service's tests; the image built and run as a service, probed the way the
// kubelet will (the overlay's readiness, liveness and startup probes, and /version); its provenance signed
// with a key made in the engine and verified by the deploy gate's check (in memory: preview pushes to no
// registry); a Kubernetes control
// plane started as services (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok); then a
// plan, a deploy, a plan and deploy of a second revision, and a rollback, with the same deploy code as a
// real deploy. Pods in that cluster are simulated by kwok: the image itself runs only in the probe step.
// Everything stops at the end; preview-cluster keeps the cluster for chained functions.
// +cache="never"
func (m *Ship) Preview(
	ctx context.Context,
	// Overlay to preview.
	// +default="dev"
	overlay string,
	// The etcd image.
	// +default="registry.k8s.io/etcd:3.6.4-0"
	etcdImage string,
	// The kube-apiserver image.
	// +default="registry.k8s.io/kube-apiserver:v1.34.2"
	apiserverImage string,
	// The kube-controller-manager image.
	// +default="registry.k8s.io/kube-controller-manager:v1.34.2"
	controllerManagerImage string,
	// The kube-scheduler image.
	// +default="registry.k8s.io/kube-scheduler:v1.34.2"
	schedulerImage string,
	// The kwok image (it plays the kubelet of simulated nodes).
	// +default="registry.k8s.io/kwok/kwok:v0.7.0"
	kwokImage string,
) (string, error) {
	run, err := m.preview(ctx, overlay, images{etcd: etcdImage, apiserver: apiserverImage, controllerManager: controllerManagerImage,
		scheduler: schedulerImage, kwok: kwokImage}, false)
	if err != nil {
		return "", err
	}
	return run.Text, nil
}

// PreviewCluster runs preview and keeps its cluster running, for chained functions: kubectl, kubeconfig, cluster, report.
//
// For example `dagger call preview-cluster kubectl terminal` opens a shell with kubectl connected to the
// cluster the preview deployed to (a Dagger function returns one type: preview prints the report,
// preview-cluster returns the cluster).
// +cache="never"
func (m *Ship) PreviewCluster(
	ctx context.Context,
	// Overlay to preview.
	// +default="dev"
	overlay string,
	// The etcd image.
	// +default="registry.k8s.io/etcd:3.6.4-0"
	etcdImage string,
	// The kube-apiserver image.
	// +default="registry.k8s.io/kube-apiserver:v1.34.2"
	apiserverImage string,
	// The kube-controller-manager image.
	// +default="registry.k8s.io/kube-controller-manager:v1.34.2"
	controllerManagerImage string,
	// The kube-scheduler image.
	// +default="registry.k8s.io/kube-scheduler:v1.34.2"
	schedulerImage string,
	// The kwok image (it plays the kubelet of simulated nodes).
	// +default="registry.k8s.io/kwok/kwok:v0.7.0"
	kwokImage string,
) (*PreviewCluster, error) {
	return m.preview(ctx, overlay, images{etcd: etcdImage, apiserver: apiserverImage, controllerManager: controllerManagerImage,
		scheduler: schedulerImage, kwok: kwokImage}, true)
}

// preview runs the preview; keep leaves the cluster running.
func (m *Ship) preview(ctx context.Context, overlay string, img images, keep bool) (*PreviewCluster, error) {
	start := time.Now()
	r, err := m.renderChecked(ctx, overlay, "", false)
	if err != nil {
		return nil, err
	}
	var rep strings.Builder
	fmt.Fprintf(&rep, "# ship preview of %s (overlay %s, namespace %s)\n\n", r.id.AppName, overlay, r.namespace)
	if err := m.previewImage(ctx, r, &rep); err != nil {
		return nil, err
	}
	cp, err := startControlPlane(ctx, img, m.kubectlBase())
	if err != nil {
		return nil, err
	}
	if !keep {
		defer cp.stop(context.WithoutCancel(ctx))
	}
	rep.WriteString(cp.summary())
	if err := m.previewDeploys(ctx, cp, r, overlay, &rep); err != nil {
		return nil, fmt.Errorf("%v\n\n%s", err, rep.String())
	}
	fmt.Fprintf(&rep, "\n---\npreview finished in %s. What was real: the tests, the image build, the image running and answering its probes, "+
		"the Kubernetes control plane (API server, admission, controllers, scheduler) and every request the deploy made. What was simulated: "+
		"the pods in the cluster, which kwok marks Running and Ready without running the image.\n", time.Since(start).Round(time.Second))
	return &PreviewCluster{Text: rep.String(), APIServer: cp.apiserver, AdminKubeconfig: cp.kubeconfig, KubectlBase: m.kubectlBase()}, nil
}

// Report returns the preview's report.
func (p *PreviewCluster) Report() string { return p.Text }

// Kubectl returns a kubectl container connected to the preview cluster (chain terminal to open a shell).
func (p *PreviewCluster) Kubectl() *dagger.Container {
	return p.KubectlBase.
		WithMountedSecret(kubeconfigPath, p.AdminKubeconfig).
		WithServiceBinding(controlplane.APIServerHost, p.APIServer).
		WithDefaultTerminalCmd([]string{"sh"})
}

// Kubeconfig returns the preview cluster's admin kubeconfig, whose server is https://kube-apiserver:6443.
func (p *PreviewCluster) Kubeconfig() *dagger.Secret { return p.AdminKubeconfig }

// Cluster returns the preview cluster's API server as a service: bind it as kube-apiserver, port 6443.
func (p *PreviewCluster) Cluster() *dagger.Service { return p.APIServer }

// previewImage tests and builds the image, runs it, and probes it as the kubelet will.
func (m *Ship) previewImage(ctx context.Context, r *rendered, rep *strings.Builder) error {
	ctx, span := Tracer().Start(ctx, "test")
	out, err := m.Test(ctx)
	span.End()
	if err != nil {
		return err
	}
	fmt.Fprintf(rep, "## Tests\n\n%s\n\n", lastLine(out))
	app, err := probe.FromManifests(r.manifests, r.image)
	if err != nil {
		return err
	}
	ctx, span = Tracer().Start(ctx, "build and probe the image")
	defer span.End()
	ctr, err := m.Build(ctx, "", "preview-1")
	if err != nil {
		return err
	}
	built := ctr // the image as built, before the probe's environment
	for _, e := range app.Env {
		ctr = ctr.WithEnvVariable(e.Name, e.Value)
	}
	for _, p := range app.Ports {
		ctr = ctr.WithExposedPort(int(p.Port))
	}
	svc, err := ctr.AsService().Start(ctx)
	if err != nil {
		return fmt.Errorf("run the image: %v", err)
	}
	defer func() { _, _ = svc.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true}) }()
	host, err := svc.Hostname(ctx)
	if err != nil {
		return fmt.Errorf("find the image's service: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	results, err := probe.CheckAll(pctx, host, app.Probes)
	fmt.Fprintf(rep, "## The image, run and probed\n\nimage %s (deployment %s, container %s), run as a service\n\n", r.id.ImageName, app.Deployment, app.Container)
	for _, res := range results {
		fmt.Fprintf(rep, "- %s\n", res)
	}
	for _, s := range app.Skipped {
		fmt.Fprintf(rep, "- %s probe not checked: %s\n", s.Kind, s.Reason)
	}
	if err != nil {
		return fmt.Errorf("%v\n\n%s", err, rep.String())
	}
	version := app.Probes[0]
	version.Kind, version.Path = "version", "/version"
	v := probe.Check(pctx, host, version)
	if !v.OK || !strings.Contains(v.Body, "preview-1") {
		return fmt.Errorf("GET /version does not report the revision the image was built with (preview-1): %s", v)
	}
	fmt.Fprintf(rep, "- /version: %s\n\n", strings.TrimSpace(v.Body))
	prov, err := m.previewProvenance(ctx, built, "preview-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(rep, "## Provenance\n\n%s\n\n", prov)
	return nil
}

// images are the control plane's images.
type images struct{ etcd, apiserver, controllerManager, scheduler, kwok string }

// controlPlane is a running preview cluster.
type controlPlane struct {
	services   []*dagger.Service
	apiserver  *dagger.Service
	kubeconfig *dagger.Secret
	target     *cluster
	client     *kube.Client
	started    time.Duration
}

// startControlPlane starts etcd and the API server, seeds what kwok needs, then the controllers and kwok.
func startControlPlane(ctx context.Context, img images, kubectl *dagger.Container) (*controlPlane, error) {
	ctx, span := Tracer().Start(ctx, "start the preview cluster")
	defer span.End()
	begin := time.Now()
	cfg := controlplane.Service()
	pki, err := controlplane.NewPKI(cfg)
	if err != nil {
		return nil, err
	}
	files := pkiFiles(pki)
	etcd := files(dag.Container().From(img.etcd)).
		WithExposedPort(controlplane.EtcdClientPort).
		AsService(dagger.ContainerAsServiceOpts{Args: append([]string{"/usr/local/bin/etcd"}, cfg.EtcdArgs()...)})
	api := files(dag.Container().From(img.apiserver)).
		WithServiceBinding(controlplane.EtcdHost, etcd).
		WithExposedPort(controlplane.APIServerPort).
		AsService(dagger.ContainerAsServiceOpts{Args: append([]string{"/usr/local/bin/kube-apiserver"}, cfg.APIServerArgs()...)})
	cp := &controlPlane{apiserver: api, kubeconfig: dag.SetSecret("preview-admin-kubeconfig-"+digestOf(string(pki.AdminKubeconfig)), string(pki.AdminKubeconfig))}
	for _, svc := range []*dagger.Service{etcd, api} {
		started, err := svc.Start(ctx)
		if err != nil {
			cp.stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start the preview cluster: %v", err)
		}
		cp.services = append(cp.services, started)
	}
	cp.target = &cluster{base: kubectl, service: api, alias: controlplane.APIServerHost,
		kubeconfig: func(context.Context) (credentials, error) { return credentials{kubeconfig: pki.AdminKubeconfig}, nil }}
	if cp.client, err = cp.target.client(); err != nil {
		return nil, err
	}
	if err := seed(ctx, cp.client); err != nil {
		cp.stop(context.WithoutCancel(ctx))
		return nil, err
	}
	controller := func(image, binary string, args []string) *dagger.Service {
		return files(dag.Container().From(image)).
			WithServiceBinding(controlplane.APIServerHost, api).
			WithEnvVariable("HOME", "/tmp").
			AsService(dagger.ContainerAsServiceOpts{Args: append([]string{binary}, args...)})
	}
	for _, svc := range []*dagger.Service{
		controller(img.controllerManager, "/usr/local/bin/kube-controller-manager", cfg.ControllerManagerArgs()),
		controller(img.scheduler, "/usr/local/bin/kube-scheduler", cfg.SchedulerArgs()),
		controller(img.kwok, "/usr/local/bin/kwok", cfg.KwokArgs()),
	} {
		started, err := svc.Start(ctx)
		if err != nil {
			cp.stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start the preview cluster: %v", err)
		}
		cp.services = append(cp.services, started)
	}
	if err := cp.waitReady(ctx); err != nil {
		cp.stop(context.WithoutCancel(ctx))
		return nil, err
	}
	cp.started = time.Since(begin)
	return cp, nil
}

// pkiFiles mounts the certificates as files and the keys and kubeconfig as secrets, at the paths the
// flags name.
func pkiFiles(pki *controlplane.PKI) func(*dagger.Container) *dagger.Container {
	return func(ctr *dagger.Container) *dagger.Container {
		for name, data := range pki.Files() {
			path := controlplane.ServicePKIDir + "/" + name
			if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, "kubeconfig") {
				ctr = ctr.WithMountedSecret(path, dag.SetSecret("preview-"+name+"-"+digestOf(string(data)), string(data)))
				continue
			}
			ctr = ctr.WithNewFile(path, string(data))
		}
		return ctr
	}
}

// seed creates what kwok reads before it starts: its Stage kind, the stages, and the simulated node.
func seed(ctx context.Context, c *kube.Client) error {
	if _, err := deploy.ApplyObjects(ctx, c, controlplane.StageCRD(), false); err != nil {
		return fmt.Errorf("preview cluster: kwok's Stage kind: %w", err)
	}
	crd := kube.Ref{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Name: controlplane.StageCRDName}
	if err := until(ctx, time.Minute, func() (bool, error) {
		u, err := c.Get(ctx, crd.GVK(), "", crd.Name)
		if err != nil {
			return false, err
		}
		return condition(u, "Established"), nil
	}); err != nil {
		return fmt.Errorf("preview cluster: kwok's Stage kind never became established: %w", err)
	}
	if _, err := deploy.ApplyObjects(ctx, c, controlplane.Stages(), false); err != nil {
		return fmt.Errorf("preview cluster: kwok's stages: %w", err)
	}
	if _, err := deploy.ApplyObjects(ctx, c, controlplane.Nodes(controlplane.NodeNames(1)...), false); err != nil {
		return fmt.Errorf("preview cluster: the simulated node: %w", err)
	}
	return nil
}

// kwokGrace is how long kwok gets to make the node Ready before it is started once more: now and then kwok
// starts with every stage in place and never initializes a node (seen in the test harness); a restart has
// always fixed it.
const kwokGrace = 45 * time.Second

// waitReady waits until the controllers work and the node is Ready, restarting kwok (the last service) once.
func (cp *controlPlane) waitReady(ctx context.Context) error {
	if err := ready(ctx, cp.client, kwokGrace); err == nil {
		return nil
	}
	kwok := cp.services[len(cp.services)-1]
	if _, err := kwok.Stop(ctx, dagger.ServiceStopOpts{Kill: true}); err != nil {
		return fmt.Errorf("restart kwok: %v", err)
	}
	restarted, err := kwok.Start(ctx)
	if err != nil {
		return fmt.Errorf("restart kwok: %v", err)
	}
	cp.services[len(cp.services)-1] = restarted
	if err := ready(ctx, cp.client, 2*time.Minute); err != nil {
		return fmt.Errorf("preview cluster: the controllers or the simulated node never became ready: %w", err)
	}
	return nil
}

// ready waits until the controllers work (the default ServiceAccount exists) and the node is Ready.
func ready(ctx context.Context, c *kube.Client, timeout time.Duration) error {
	sa := schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}
	node := schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	return until(ctx, timeout, func() (bool, error) {
		if _, err := c.Get(ctx, sa, "default", "default"); err != nil {
			return false, nil
		}
		u, err := c.Get(ctx, node, "", controlplane.NodeNames(1)[0])
		if err != nil {
			return false, nil
		}
		return condition(u, "Ready"), nil
	})
}

// summary says what runs, for the report.
func (cp *controlPlane) summary() string {
	return fmt.Sprintf("## The preview cluster\n\nKubernetes %s (etcd %s, kube-apiserver, kube-controller-manager, kube-scheduler) and kwok %s, "+
		"as Dagger services, ready in %s. Its pods are simulated: kwok marks them Running and Ready without running the image.\n\n",
		controlplane.KubernetesVersion, controlplane.EtcdVersion, controlplane.KwokVersion, cp.started.Round(time.Second))
}

func (cp *controlPlane) stop(ctx context.Context) {
	if cp.target != nil {
		cp.target.stop(ctx)
	}
	for i := len(cp.services) - 1; i >= 0; i-- {
		_, _ = cp.services[i].Stop(ctx, dagger.ServiceStopOpts{Kill: true})
	}
}

// previewDeploys creates the namespace, then plans, deploys, plans and deploys a second revision, and rolls back.
func (m *Ship) previewDeploys(ctx context.Context, cp *controlPlane, r *rendered, overlay string, rep *strings.Builder) error {
	ns := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", r.namespace)
	if _, err := deploy.ApplyObjects(ctx, cp.client, []byte(ns), false); err != nil {
		return fmt.Errorf("preview cluster: namespace %s: %w", r.namespace, err)
	}
	owner := kube.Owner{App: r.id.AppName, Overlay: overlay}
	for i, rev := range []string{"preview-1", "preview-2"} {
		img := "preview.local/" + r.id.ImageName + ":" + rev
		o, err := m.previewOptions(ctx, overlay, img, rev)
		if err != nil {
			return err
		}
		ctx, span := Tracer().Start(ctx, "plan "+rev)
		plan, err := deploy.Plan(ctx, cp.client, o)
		span.End()
		if err != nil {
			return err
		}
		fmt.Fprintf(rep, "## Plan of revision %s\n\n```\n%s", rev, plan.Summary())
		if i > 0 {
			rep.WriteString("\n" + plan.Diff)
		}
		rep.WriteString("```\n\n")
		ctx, span = Tracer().Start(ctx, "deploy "+rev)
		res, err := deploy.Run(ctx, cp.client, o)
		span.End()
		if res != nil {
			rep.WriteString(demote(res.Markdown()) + "\n")
		}
		if err != nil {
			return err
		}
	}
	ctx, span := Tracer().Start(ctx, "rollback")
	res, err := deploy.Rollback(ctx, cp.client, deploy.RollbackOptions{App: owner.App, Overlay: overlay, Namespace: r.namespace, Progress: os.Stderr})
	span.End()
	if res != nil {
		rep.WriteString(demote(res.Markdown()) + "\n")
	}
	if err != nil {
		return err
	}
	st, err := deploy.Status(ctx, cp.client, r.namespace, owner)
	if err != nil {
		return err
	}
	fmt.Fprintf(rep, "## Status after the rollback\n\n```\n%s```\n", st)
	return nil
}

// previewOptions renders the overlay with a preview image and fills the deploy's options.
func (m *Ship) previewOptions(ctx context.Context, overlay, img, rev string) (deploy.Options, error) {
	r, err := m.renderChecked(ctx, overlay, img, false)
	if err != nil {
		return deploy.Options{}, err
	}
	return deploy.Options{App: r.id.AppName, Overlay: overlay, Image: img, Owner: "ship preview " + rev, Manifests: r.manifests,
		Release: deploy.Release{Revision: rev, Actor: "preview"}, Progress: os.Stderr, Stage: traceStage, LockWait: time.Minute}, nil
}

// demote makes a report's headings one level deeper, to nest it in the preview's report.
func demote(md string) string { return strings.ReplaceAll("\n"+md, "\n#", "\n##")[1:] }

// until polls check until it says done, fails, or the timeout passes.
func until(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := check()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not after %s", timeout)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// condition reports whether an object's status has the condition type with status True.
func condition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
