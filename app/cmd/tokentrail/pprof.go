package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/tokentrail/tokentrail/internal/debugserver"
)

// startPprof serves net/http/pprof on the loopback address in
// TOKENTRAIL_PPROF_ADDR, for profiling a server under load (docs/benchmarks.md).
// It is off unless the variable is set. It returns the address it listens
// on ("" when off) and a function that stops it.
func startPprof(getenv func(string) string, stderr io.Writer) (listening string, stop func(), err error) {
	addr := getenv("TOKENTRAIL_PPROF_ADDR")
	if addr == "" {
		return "", func() {}, nil
	}
	listening, stop, err = debugserver.Start(addr)
	if errors.Is(err, debugserver.ErrNotLoopback) {
		return "", nil, usagef("TOKENTRAIL_PPROF_ADDR %v", err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("pprof: %w", err)
	}
	fmt.Fprintf(stderr, "tokentrail: pprof on http://%s/debug/pprof/ (TOKENTRAIL_PPROF_ADDR)\n", listening)
	return listening, stop, nil
}
