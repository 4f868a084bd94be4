package kube

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAwaitListening(t *testing.T) {
	t.Run("listening already", func(t *testing.T) {
		l := listen(t, "127.0.0.1:0")
		if err := AwaitListening(context.Background(), "http://"+l.Addr().String(), time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("listens a moment later", func(t *testing.T) {
		addr := freeAddr(t)
		go func() {
			time.Sleep(60 * time.Millisecond)
			listen(t, addr)
		}()
		start := time.Now()
		if err := AwaitListening(context.Background(), "http://"+addr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 60*time.Millisecond {
			t.Fatalf("returned after %s, before the port was opened", took)
		}
	})
	t.Run("never listens", func(t *testing.T) {
		addr := freeAddr(t)
		// The last dial's error is "connection refused" on an idle machine; on a loaded one the kernel's answer
		// can come later than the deadline, and it is "i/o timeout".
		err := AwaitListening(context.Background(), "http://"+addr, 50*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "nothing listens on "+addr+" after 50ms (last try: dial tcp "+addr+": ") {
			t.Fatalf("err = %v, want the address, the timeout and the last dial error", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := AwaitListening(ctx, "http://"+freeAddr(t), time.Minute); err != context.Canceled {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("not a URL", func(t *testing.T) {
		if err := AwaitListening(context.Background(), "::", time.Second); err == nil || !strings.Contains(err.Error(), "is not a URL") {
			t.Fatalf("err = %v", err)
		}
	})
}

func listen(t *testing.T, addr string) net.Listener {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Error(err)
		return nil
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// freeAddr is a loopback address nothing listens on (it was free a moment ago).
func freeAddr(t *testing.T) string {
	l := listen(t, "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	return addr
}
