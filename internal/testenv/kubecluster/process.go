package kubecluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// proc is one control-plane process; its stdout and stderr go to an append-only log file.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // exit status, valid after done
}

// startProc starts bin with args, logging to <dir>/<name>.log (appended, so a restart
// keeps the earlier log). The process is killed if the test binary dies.
func startProc(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := dir + "/" + name + ".log"
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "==== %s %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := spawn(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits (bounded) for the process to be reaped.
func (p *proc) kill() {
	if p == nil {
		return
	}
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Pdeathsig fires when the OS thread that forked the child exits, not the process
// (golang/go#27505); so every child is forked from one goroutine locked to a thread
// that lives as long as the test binary.
var (
	spawnOnce sync.Once
	spawnCh   = make(chan func())
)

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread stays until exit
			for f := range spawnCh {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- func() { errc <- cmd.Start() }
	return <-errc
}

// failure builds an error about p that ends with the tail of its log.
func (p *proc) failure(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.exited() {
		msg += fmt.Sprintf(" (%s exited: %v)", p.name, p.err)
	}
	return fmt.Errorf("kubecluster: %s\n--- last lines of %s ---\n%s", msg, p.log, tailFile(p.log, 40))
}

// waitUntil polls check every interval until it succeeds, p exits, or ctx ends.
func waitUntil(ctx context.Context, p *proc, what string, check func(context.Context) error) error {
	const interval = 100 * time.Millisecond
	var last error
	for {
		if p != nil && p.exited() {
			return p.failure("%s exited while waiting for %s", p.name, what)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("timed out waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			if p != nil {
				return p.failure("%v", err)
			}
			return fmt.Errorf("kubecluster: %w", err)
		case <-time.After(interval):
		}
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. Another process may still
// take one before it is used: Start retries when a port turns out to be in use.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portConflict reports whether a start failure looks like a lost race for a port.
func portConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
