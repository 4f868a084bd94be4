//go:build !linux

package kubecluster

import "syscall"

// sysProcAttr: without Pdeathsig, children outlive a test binary that is killed
// (Stop and Main still clean up on a normal exit).
func sysProcAttr() *syscall.SysProcAttr { return nil }
