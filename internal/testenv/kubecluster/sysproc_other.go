//go:build !linux

package kubecluster

import (
	"errors"
	"syscall"
)

// sysProcAttr: without Pdeathsig, children outlive a test binary that is killed
// (Stop and Main still clean up on a normal exit).
func sysProcAttr() *syscall.SysProcAttr { return nil }

func freeze(*proc) error {
	return errors.New("kubecluster: pausing a process is implemented on Linux only")
}
func thaw(*proc) error { return nil }
