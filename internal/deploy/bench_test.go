// Benchmarks on the test control plane. They report ratios and latencies as metrics, never assert on time:
//   - report-lag: when Run reported success (printed its summary) minus when the rollout actually completed
//     (seen by an independent watch), for ship and for the peer `kubectl apply` + `kubectl rollout status`;
//   - return-lag: when Run returned (after releasing the deploy lock) minus the same moment;
//   - fail-detect: when Run reported a stuck pod minus when the pod entered ImagePullBackOff (watch).
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
)

func (e *env) watch(args ...string) *kubecluster.Watcher { return e.Cluster.Watch(e.t, e.ns, args...) }

// stuckAt is when the watch first saw a pod running img waiting in reason.
func stuckAt(events []kubecluster.Event, img, reason string) (time.Time, bool) {
	for _, ev := range events {
		var p corev1.Pod
		if json.Unmarshal(ev.Raw, &p) != nil || len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != img {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil && cs.State.Waiting.Reason == reason {
				return ev.At, true
			}
		}
	}
	return time.Time{}, false
}

type stats struct{ sum, n float64 }

func (s *stats) add(d time.Duration) { s.sum += float64(d.Milliseconds()); s.n++ }
func (s *stats) mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / s.n
}

// BenchmarkDeploySuccess: "instant" pods are ready as soon as scheduled; with "minReady3s" the rollout ends
// three seconds after the apply, long after every read of the deploy's own has finished.
func BenchmarkDeploySuccess(b *testing.B) {
	for _, c := range []struct {
		name  string
		edits []func(map[string]any)
	}{{"instant", nil}, {"minReady3s", []func(map[string]any){minReady(3)}}} {
		b.Run(c.name, func(b *testing.B) { benchmarkDeploy(b, c.edits...) })
	}
}

func benchmarkDeploy(b *testing.B, edits ...func(map[string]any)) {
	e := newEnv(b)
	if _, err := e.run(e.options(image("bench-0"), edits...)); err != nil {
		b.Fatal(err)
	}
	var lag, ret, total stats
	b.ResetTimer()
	for i := range b.N {
		img := image(fmt.Sprintf("bench-%d", i+1))
		o := e.options(img, edits...)
		o.Progress = nil
		w := e.watch("get", "deployment", "fastapi-app")
		start := time.Now()
		rep, err := e.run(o)
		returned := time.Now()
		total.add(returned.Sub(start))
		done, ok := kubetest.RolledOutAt(w.Stop(), img)
		if err != nil || !ok {
			b.Fatalf("deploy %d: %v (rollout seen by watch: %v)", i, err, ok)
		}
		lag.add(rep.Finished.Sub(done))
		ret.add(returned.Sub(done))
	}
	b.ReportMetric(lag.mean(), "report-lag-ms")
	b.ReportMetric(ret.mean(), "return-lag-ms")
	b.ReportMetric(total.mean(), "total-ms")
}

// BenchmarkKubectlApplyRolloutStatus is the peer: the same deploy done by hand with kubectl.
func BenchmarkKubectlApplyRolloutStatus(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	apply := func(img string) {
		if _, err := e.Cluster.KubectlStdin(ctx, string(e.manifests(img)), "apply", "--server-side", "--field-manager=ship", "-f", "-"); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Cluster.Kubectl(ctx, "rollout", "status", "deployment/fastapi-app", "-n", e.ns, "--timeout=2m"); err != nil {
			b.Fatal(err)
		}
	}
	apply(image("peer-init"))
	var lag, total stats
	b.ResetTimer()
	for i := range b.N {
		img := image(fmt.Sprintf("peer-%d", i))
		w := e.watch("get", "deployment", "fastapi-app")
		start := time.Now()
		apply(img)
		reported := time.Now()
		total.add(reported.Sub(start))
		done, ok := kubetest.RolledOutAt(w.Stop(), img)
		if !ok {
			b.Fatalf("rollout %d not seen by the watch", i)
		}
		lag.add(reported.Sub(done))
	}
	b.ReportMetric(lag.mean(), "report-lag-ms")
	b.ReportMetric(total.mean(), "total-ms")
}

func BenchmarkFailureDetection(b *testing.B) {
	e := newEnv(b)
	if _, err := e.run(e.options(image("good-0"))); err != nil {
		b.Fatal(err)
	}
	var detect stats
	b.ResetTimer()
	for i := range b.N {
		bad := image(fmt.Sprintf("bad-%d", i))
		o := e.options(bad, fault("ImagePullBackOff"))
		o.Progress, o.NoRollback = nil, true
		w := e.watch("get", "pods")
		rep, err := e.run(o)
		stuck, ok := stuckAt(w.Stop(), bad, "ImagePullBackOff")
		if err == nil || !ok {
			b.Fatalf("iteration %d: err %v, stuck pod seen by watch: %v", i, err, ok)
		}
		detect.add(rep.Workloads[0].Observed.Sub(stuck))
		b.StopTimer()
		good := e.options(image(fmt.Sprintf("good-%d", i+1)))
		good.Progress = nil
		if _, err := e.run(good); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(detect.mean(), "fail-detect-ms")
}
