package main

import (
	"fmt"
	"io"

	"github.com/tokentrail/tokentrail/internal/debugserver"
)

const envPprof = "CHAINCODE_PPROF_ADDR"

// checkPprofAddr validates CHAINCODE_PPROF_ADDR: empty (off) or a loopback
// host:port.
func checkPprofAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if err := debugserver.Check(addr); err != nil {
		return configErrorf("%s=%q %v", envPprof, addr, err)
	}
	return nil
}

// startPprof serves net/http/pprof on addr for profiling the chaincode
// under load (docs/benchmarks.md). It returns a function that stops it.
func startPprof(addr string, log io.Writer) (stop func(), err error) {
	listening, stop, err := debugserver.Start(addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	fmt.Fprintf(log, "tokentrail-cc: pprof on http://%s/debug/pprof/ (%s)\n", listening, envPprof)
	return stop, nil
}
