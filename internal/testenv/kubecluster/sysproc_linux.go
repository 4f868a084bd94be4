package kubecluster

import "syscall"

// sysProcAttr makes the kernel SIGKILL a child when the test binary dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
