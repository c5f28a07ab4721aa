package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// syscallCount is what `perf stat` counted in a process over the measurement window:
// every system call, and those that send UDP datagrams.
type syscallCount struct {
	All, Sendto, Sendmsg, Sendmmsg uint64
}

// syscallEvents are the tracepoints counted; the per-call ones name the ways a Go process
// sends a UDP datagram (WriteTo → sendto, WriteMsgUDP → sendmsg, batches → sendmmsg).
var syscallEvents = []string{"raw_syscalls:sys_enter", "syscalls:sys_enter_sendto",
	"syscalls:sys_enter_sendmsg", "syscalls:sys_enter_sendmmsg"}

// countSyscalls runs `perf stat` on pid for d, or returns an error when perf is missing or
// may not trace the process. It blocks for d.
func countSyscalls(ctx context.Context, pid int, d time.Duration) (syscallCount, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return syscallCount{}, err
	}
	args := []string{"stat", "-x", ",", "-e", strings.Join(syscallEvents, ","), "-p", strconv.Itoa(pid),
		"--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 3, 64)}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, perf, args...)
	cmd.Stderr = &out // perf stat writes its counts to stderr
	if err := cmd.Run(); err != nil {
		return syscallCount{}, fmt.Errorf("perf stat: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return parsePerfStat(out.String())
}

// parsePerfStat reads `perf stat -x ,` output: value,unit,event,...
func parsePerfStat(s string) (syscallCount, error) {
	var c syscallCount
	found := 0
	for _, line := range strings.Split(s, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(f[0]), 10, 64)
		if err != nil {
			continue // "<not counted>" or "<not supported>"
		}
		switch strings.TrimSpace(f[2]) {
		case syscallEvents[0]:
			c.All, found = v, found+1
		case syscallEvents[1]:
			c.Sendto = v
		case syscallEvents[2]:
			c.Sendmsg = v
		case syscallEvents[3]:
			c.Sendmmsg = v
		}
	}
	if found == 0 {
		return c, fmt.Errorf("perf stat counted nothing: %s", strings.TrimSpace(s))
	}
	return c, nil
}
