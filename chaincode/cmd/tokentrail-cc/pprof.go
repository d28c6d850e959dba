package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

const envPprof = "CHAINCODE_PPROF_ADDR"

// checkPprofAddr validates CHAINCODE_PPROF_ADDR: empty (off) or a loopback
// host:port. Profiles show the contract's code paths and timings, so they
// are never served beyond the machine.
func checkPprofAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return configErrorf("%s=%q must be a loopback host:port, such as 127.0.0.1:6061", envPprof, addr)
	}
	return nil
}

// startPprof serves net/http/pprof on addr, on its own listener and mux, for
// profiling the chaincode under load (docs/benchmarks.md). It returns a
// function that stops it.
func startPprof(addr string, log io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	fmt.Fprintf(log, "tokentrail-cc: pprof on http://%s/debug/pprof/ (%s)\n", ln.Addr(), envPprof)
	return func() { srv.Close() }, nil
}
