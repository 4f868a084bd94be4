// Tests of what pre-deploy Jobs rest on: a Job's pods complete by default, a Job whose template
// carries the Failed fault fails as the real Job controller decides (backoffLimit, exit code in the
// pod's status), and the logs a test sets come back through the apiserver as `kubectl logs` reads them.
package kubecluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/diagnose"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/testenv/kubecluster"
)

// job is a Job of one container named migrate, restartPolicy Never, with annotations on its template.
func job(name, ns string, backoffLimit int, annotations map[string]string) string {
	ann, _ := json.Marshal(annotations)
	return fmt.Sprintf(`{
  "apiVersion": "batch/v1", "kind": "Job",
  "metadata": {"name": %q, "namespace": %q},
  "spec": {
    "backoffLimit": %d,
    "template": {
      "metadata": {"annotations": %s},
      "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "registry.test/migrate:v1"}]}
    }
  }
}`, name, ns, backoffLimit, ann)
}

type jobStatus struct {
	Status struct {
		Failed     int `json:"failed"`
		Succeeded  int `json:"succeeded"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"conditions"`
	} `json:"status"`
}

// jobCondition waits until the Job has condition typ=True and returns its reason and status.
func jobCondition(t *testing.T, c *kubecluster.Cluster, ns, name, typ string) (string, jobStatus) {
	t.Helper()
	var js jobStatus
	var reason string
	eventually(t, 60*time.Second, "job "+name+" "+typ, func() error {
		out := kubectl(t, c, "get", "job", "-n", ns, name, "-o", "json")
		js = jobStatus{}
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			return err
		}
		for _, cond := range js.Status.Conditions {
			if cond.Type == typ && cond.Status == "True" {
				reason = cond.Reason
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", js.Status.Conditions)
	})
	return reason, js
}

// jobPod is the one pod of a Job, with the annotations it was created with.
type jobPod struct {
	pod
	annotations map[string]string
}

func onlyJobPod(t *testing.T, c *kubecluster.Cluster, ns, name string) jobPod {
	t.Helper()
	out := []byte(kubectl(t, c, "get", "pods", "-n", ns, "-l", "job-name="+name, "-o", "json"))
	var pods struct {
		Items []pod `json:"items"`
	}
	var meta struct {
		Items []struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := errors.Join(json.Unmarshal(out, &pods), json.Unmarshal(out, &meta)); err != nil {
		t.Fatalf("decoding pods: %v", err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("job %s has %d pods, want 1", name, len(pods.Items))
	}
	return jobPod{pod: pods.Items[0], annotations: meta.Items[0].Metadata.Annotations}
}

// failedWith checks a pod failed as fault-failed-exit promises, with exit code want.
func failedWith(p pod, want int) error {
	if p.Status.Phase != "Failed" || len(p.Status.ContainerStatuses) != 1 {
		return fmt.Errorf("phase %q with %d container statuses, want Failed with 1", p.Status.Phase, len(p.Status.ContainerStatuses))
	}
	cs := p.Status.ContainerStatuses[0]
	if term := cs.State.Terminated; cs.Ready || term == nil || term.ExitCode != want || term.Reason != "Error" {
		return fmt.Errorf("container %s ready=%v state %+v, want terminated exit %d reason Error", cs.Name, cs.Ready, cs.State.Terminated, want)
	}
	if s, r := p.condition("Ready"); s != "False" || r != "PodFailed" {
		return fmt.Errorf("Ready=%q reason %q, want False PodFailed", s, r)
	}
	return nil
}

func TestJobOutcomes(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "jobs")
	failed := map[string]string{kubecluster.FaultAnnotation: kubecluster.FaultFailed}
	failedWithCode := func(code string) map[string]string {
		return map[string]string{kubecluster.FaultAnnotation: kubecluster.FaultFailed, kubecluster.FaultExitCodeAnnotation: code}
	}
	apply(t, c, job("ok", ns, 0, nil))
	apply(t, c, job("fails", ns, 0, failedWithCode("3")))
	apply(t, c, job("fails-default", ns, 0, failed))
	apply(t, c, job("bad-code", ns, 0, failedWithCode("three")))

	t.Run("CompletesByDefault", func(t *testing.T) {
		jobCondition(t, c, ns, "ok", "Complete")
		if p := onlyJobPod(t, c, ns, "ok"); p.Status.Phase != "Succeeded" {
			t.Errorf("pod phase %q", p.Status.Phase)
		}
	})

	t.Run("FailedWithExitCode", func(t *testing.T) {
		reason, js := jobCondition(t, c, ns, "fails", "Failed")
		if reason != "BackoffLimitExceeded" || js.Status.Failed != 1 || js.Status.Succeeded != 0 {
			t.Errorf("job Failed reason %q, failed %d, succeeded %d; want BackoffLimitExceeded, 1, 0", reason, js.Status.Failed, js.Status.Succeeded)
		}
		p := onlyJobPod(t, c, ns, "fails")
		if err := failedWith(p.pod, 3); err != nil {
			t.Error(err)
		}
		// The template's annotations are what made the pod fail: they land on the pod.
		if p.annotations[kubecluster.FaultAnnotation] != kubecluster.FaultFailed || p.annotations[kubecluster.FaultExitCodeAnnotation] != "3" {
			t.Errorf("pod annotations %v", p.annotations)
		}
	})

	t.Run("DefaultExitCodeIs1", func(t *testing.T) {
		jobCondition(t, c, ns, "fails-default", "Failed")
		if err := failedWith(onlyJobPod(t, c, ns, "fails-default").pod, 1); err != nil {
			t.Error(err)
		}
	})

	t.Run("BadExitCodeSaysSo", func(t *testing.T) {
		jobCondition(t, c, ns, "bad-code", "Failed")
		if err := failedWith(onlyJobPod(t, c, ns, "bad-code").pod, 1); err != nil {
			t.Error(err)
		}
		msg := kubectl(t, c, "get", "pods", "-n", ns, "-l", "job-name=bad-code", "-o", "jsonpath={.items[0].status.containerStatuses[0].state.terminated.message}")
		if !strings.Contains(msg, `fault.ship.test/exit-code "three" is not an exit code`) {
			t.Errorf("terminated message %q does not explain the bad annotation", msg)
		}
	})
}

// The logs of a failed Job's pod, set by the test, come back through the apiserver (which asks kwok's
// kubelet API over verified TLS) exactly as `kubectl logs` and the deployer's diagnosis ask for them.
func TestJobPodLogs(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "job-logs")
	var lines []string
	for i := 1; i <= 25; i++ {
		lines = append(lines, "migration step "+strconv.Itoa(i))
	}
	lines = append(lines, `ERROR: relation "users" does not exist`)
	if err := c.SetLogs(t.Context(), ns, "migrate", lines...); err != nil {
		t.Fatal(err)
	}
	apply(t, c, job("migrate", ns, 0, map[string]string{kubecluster.FaultAnnotation: kubecluster.FaultFailed, kubecluster.FaultExitCodeAnnotation: "3"}))
	jobCondition(t, c, ns, "migrate", "Failed")
	p := onlyJobPod(t, c, ns, "migrate")
	if err := failedWith(p.pod, 3); err != nil {
		t.Fatal(err)
	}

	// What internal/kube's Client.Logs sends.
	raw := kubectl(t, c, "get", "--raw", "/api/v1/namespaces/"+ns+"/pods/"+p.Metadata.Name+"/log?container=migrate&tailLines=20")
	if want := strings.Join(lines[len(lines)-20:], "\n") + "\n"; raw != want {
		t.Errorf("pods/log?tailLines=20:\n%s\nwant:\n%s", raw, want)
	}
	if got := kubectl(t, c, "logs", "-n", ns, "job/migrate"); got != strings.Join(lines, "\n")+"\n" {
		t.Errorf("kubectl logs job/migrate:\n%s", got)
	}
	if got := kubectl(t, c, "logs", "-n", ns, p.Metadata.Name, "-c", "migrate", "--previous", "--tail=1"); got != lines[len(lines)-1]+"\n" {
		t.Errorf("kubectl logs --previous --tail=1: %q", got)
	}

	// The deployer's diagnosis, through a kubectl proxy as on the engine, shows the exit code and the tail.
	url := c.Proxy(t, c.Kubeconfig, kube.ProxyArgs("127.0.0.1", 0))
	client, err := kube.NewClient(kube.StaticEndpoint(url))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := client.Read(t.Context(), ns, "job-name=migrate", kube.PodKind)
	if err != nil {
		t.Fatal(err)
	}
	d := diagnose.Collect(t.Context(), client, diagnose.Input{Namespace: ns, Workload: "job/migrate", Owners: []string{"migrate"}, Pods: objs.Pods})
	if len(d.Logs) != 1 || !slices.Equal(d.Logs[0].Lines, lines[len(lines)-diagnose.LogLines:]) || d.Logs[0].Previous {
		t.Errorf("diagnosis logs %+v, want the last %d lines of the current instance", d.Logs, diagnose.LogLines)
	}
	if text := d.String(); !strings.Contains(text, "container migrate: terminated Error, exit code 3") {
		t.Errorf("diagnosis lacks the exit code:\n%s", text)
	}

	// A new call replaces the lines; a container without logs set is an error, as for one that never ran.
	if err := c.SetLogs(t.Context(), ns, "migrate", "second attempt"); err != nil {
		t.Fatal(err)
	}
	if got := kubectl(t, c, "logs", "-n", ns, p.Metadata.Name); got != "second attempt\n" {
		t.Errorf("after SetLogs again: %q", got)
	}
	other := c.Namespace(t, "job-logs-unset")
	apply(t, c, job("migrate", other, 0, map[string]string{kubecluster.FaultAnnotation: kubecluster.FaultFailed}))
	jobCondition(t, c, other, "migrate", "Failed")
	if out, err := c.Kubectl(t.Context(), "logs", "-n", other, "job/migrate"); err == nil {
		t.Errorf("logs of a namespace without SetLogs: %q, want an error", out)
	}
}

func TestSetLogsRefusesBadInput(t *testing.T) {
	c := new(kubecluster.Cluster) // the input is checked before the cluster is used
	for _, tt := range []struct {
		name, namespace, container string
		lines                      []string
		errHas                     string
	}{
		{"namespace with capitals", "Jobs", "migrate", nil, `namespace "Jobs"`},
		{"empty container", "jobs", "", nil, `container ""`},
		{"container with a dot", "jobs", "mi.grate", nil, `container "mi.grate"`},
		{"two lines in one", "jobs", "migrate", []string{"ok", "a\nb"}, "line 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.SetLogs(t.Context(), tt.namespace, tt.container, tt.lines...)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
		})
	}
	if err := c.SetLogs(t.Context(), "jobs", "migrate", "x"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("SetLogs on a cluster that is not running: %v", err)
	}
}
