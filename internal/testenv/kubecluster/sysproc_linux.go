package kubecluster

import "syscall"

// sysProcAttr makes the kernel SIGKILL a child when the test binary dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// freeze and thaw stop and continue a process without its knowledge (SIGSTOP, SIGCONT).
func freeze(p *proc) error { return p.cmd.Process.Signal(syscall.SIGSTOP) }
func thaw(p *proc) error   { return p.cmd.Process.Signal(syscall.SIGCONT) }
