// Command pause is the pod sandbox's process: it holds the pod's namespaces, reaps orphans (it is
// PID 1 when the pod shares a PID namespace) and exits on SIGINT or SIGTERM. Built static, as the
// sandbox image has nothing else in it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
