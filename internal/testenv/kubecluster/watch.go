// An independent observer for benchmarks: `kubectl get -w -o json` as admin, every object it prints
// timestamped on arrival. Benchmarks measure the deployer's reports against it, so the yardstick is not the
// code under test.
package kubecluster

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Event is one object the watch printed, and when it arrived.
type Event struct {
	At  time.Time
	Raw json.RawMessage
}

// Watcher is a running `kubectl get -w`.
type Watcher struct {
	mu     sync.Mutex
	events []Event
	cancel func()
	done   chan struct{}
}

// Watch starts `kubectl get <args> -n namespace -w -o json` and returns once it has printed its first object
// (or after 10 s, for a watch of kinds with no object yet).
func (c *Cluster) Watch(tb testing.TB, namespace string, args ...string) *Watcher {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, c.KubectlPath, append(args, "-n", namespace, "-w", "-o", "json")...)
	cmd.Env = []string{"HOME=" + c.dir, "KUBECONFIG=" + c.Kubeconfig}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	first := make(chan struct{})
	go func() {
		defer close(w.done)
		dec := json.NewDecoder(bufio.NewReader(out))
		var once sync.Once
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				once.Do(func() { close(first) })
				_ = cmd.Wait()
				return
			}
			w.mu.Lock()
			w.events = append(w.events, Event{At: time.Now(), Raw: raw})
			w.mu.Unlock()
			once.Do(func() { close(first) })
		}
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
	}
	return w
}

// Stop ends the watch and returns what it saw.
func (w *Watcher) Stop() []Event {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}
