// The benchmarks' yardstick, proven both ways: it sees the object as it is when the watch starts and every
// change after, and a kubectl that cannot watch (the engine benchmark's once-missing "get") fails the caller
// with kubectl's own words instead of seeing nothing.
package kubecluster_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/kubecluster"
)

func TestWatchSeesInitialStateAndChanges(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "watch")
	kubectl(t, c, "create", "configmap", "cm", "-n", ns, "--from-literal=k=1")
	w := c.Watch(t, ns, "get", "configmap", "cm")
	kubectl(t, c, "patch", "configmap", "cm", "-n", ns, "-p", `{"data":{"k":"2"}}`)
	eventually(t, 30*time.Second, "the change seen", func() error {
		if got := values(t, w.Events()); len(got) < 2 {
			return fmt.Errorf("values seen: %q", got)
		}
		return nil
	})
	got := values(t, w.Stop())
	if got[0] != "1" || got[len(got)-1] != "2" || w.Err() != nil {
		t.Fatalf("values seen %q (err %v), want the initial 1 first and 2 last", got, w.Err())
	}
}

func values(t *testing.T, events []kubecluster.Event) []string {
	var out []string
	for _, ev := range events {
		var cm struct{ Data map[string]string }
		if err := json.Unmarshal(ev.Raw, &cm); err != nil {
			t.Fatal(err)
		}
		out = append(out, cm.Data["k"])
	}
	return out
}

func TestWatchFailsOnKubectlError(t *testing.T) {
	c := cluster(t)
	for _, c2 := range []struct {
		args []string
		want string
	}{
		{[]string{"deployment", "x"}, `must start with "get"`},
		{[]string{"get", "nosuchkind", "x"}, "nosuchkind"},
	} {
		rec := &recorder{TB: t}
		func() {
			defer func() { _ = recover() }()
			c.Watch(rec, "default", c2.args...)
		}()
		if !strings.Contains(rec.failure, c2.want) {
			t.Errorf("Watch(%q) failed with %q, want a failure naming %q", c2.args, rec.failure, c2.want)
		}
	}
}

// recorder is a testing.TB whose Fatal records the failure and stops the caller (as Fatal does).
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.failure = fmt.Sprint(args...)
	panic("fatal")
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }
