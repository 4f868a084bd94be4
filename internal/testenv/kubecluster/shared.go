package kubecluster

import (
	"context"
	"os"
	"sync"
	"testing"
)

var shared struct {
	once sync.Once
	mu   sync.Mutex
	c    *Cluster
	err  error
}

// Shared returns the test binary's shared cluster, starting it on first use (building
// the binaries first if needed). Tests sharing it should use their own namespaces.
// Use Main in TestMain so the cluster is stopped and its temp dir removed at exit;
// without it the processes still die with the test binary (Pdeathsig).
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	shared.once.Do(func() {
		c, err := Start(context.Background(), Options{})
		shared.mu.Lock()
		shared.c, shared.err = c, err
		shared.mu.Unlock()
	})
	shared.mu.Lock()
	c, err := shared.c, shared.err
	shared.mu.Unlock()
	if err != nil {
		tb.Fatalf("kubecluster: starting the shared cluster: %v", err)
	}
	return c
}

// Main is for TestMain: it runs the tests, stops the shared cluster (if one was
// started) and exits with the tests' status.
//
//	func TestMain(m *testing.M) { kubecluster.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	c := shared.c
	shared.mu.Unlock()
	c.Stop()
	os.Exit(code)
}
