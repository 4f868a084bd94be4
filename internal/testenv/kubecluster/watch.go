// An independent observer for benchmarks: `kubectl get -w -o json` as admin, every object it prints
// timestamped on arrival, the first one (the initial list) included, so a condition that already holds when
// the watch starts is seen too. Benchmarks measure the deployer's reports against it, so the yardstick is
// not the code under test. It guards against a yardstick that silently sees nothing: a kubectl that exits
// before printing (a bad argument, an unknown resource) fails the benchmark with kubectl's own words, and a
// watch that ended before Stop says so.
package kubecluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
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
	ended  error // set when kubectl ended before Stop
	cancel func()
	done   chan struct{}
}

// Watch starts `kubectl <args> -n namespace -w -o json` (args begin with "get") and returns once it has
// printed its first object, or after 10 s for a watch of kinds with no object yet. A kubectl that exits
// before printing anything fails tb.
func (c *Cluster) Watch(tb testing.TB, namespace string, args ...string) *Watcher {
	tb.Helper()
	if len(args) == 0 || args[0] != "get" {
		tb.Fatalf("kubecluster.Watch: args must start with \"get\", got %q", args)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, c.KubectlPath, append(args, "-n", namespace, "-w", "-o", "json")...)
	cmd.Env = []string{"HOME=" + c.dir, "KUBECONFIG=" + c.Kubeconfig}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
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
		var once sync.Once
		defer once.Do(func() { close(first) })
		dec := json.NewDecoder(bufio.NewReader(out))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				err = cmd.Wait()
				if ctx.Err() == nil {
					w.mu.Lock()
					w.ended = fmt.Errorf("kubectl %s ended (%v): %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
					w.mu.Unlock()
				}
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
	if err := w.Err(); err != nil {
		w.Stop()
		tb.Fatal(err)
	}
	return w
}

// Err says whether the watch ended before Stop (then it saw nothing after that).
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended
}

// Events is what the watch has seen so far.
func (w *Watcher) Events() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Event(nil), w.events...)
}

// Stop ends the watch and returns what it saw.
func (w *Watcher) Stop() []Event {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}
