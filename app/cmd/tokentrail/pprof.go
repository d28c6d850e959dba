package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves net/http/pprof on the loopback address in
// TOKENTRAIL_PPROF_ADDR, for profiling a server under load (docs/benchmarks.md).
// It is off unless the variable is set, refuses addresses that are not
// loopback, and serves on its own listener and mux, never on the API's.
// It returns the address it listens on ("" when off) and a function that
// stops it.
func startPprof(getenv func(string) string, stderr io.Writer) (listening string, stop func(), err error) {
	addr := getenv("TOKENTRAIL_PPROF_ADDR")
	if addr == "" {
		return "", func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "", nil, usagef("TOKENTRAIL_PPROF_ADDR must be a loopback host:port, such as 127.0.0.1:6060")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	fmt.Fprintf(stderr, "tokentrail: pprof on http://%s/debug/pprof/ (TOKENTRAIL_PPROF_ADDR)\n", ln.Addr())
	return ln.Addr().String(), func() { srv.Close() }, nil
}
