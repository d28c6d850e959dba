// Package debugserver serves Go's net/http/pprof profiles for the project's
// servers (the app and the chaincode server) when an operator asks for them:
// on a loopback address only, on a listener and mux of its own, never on a
// server's public one.
package debugserver

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ErrNotLoopback is returned for an address that is not a loopback
// host:port: profiles show code paths and timings and are never served
// beyond the machine.
var ErrNotLoopback = errors.New("must be a loopback host:port, such as 127.0.0.1:6060")

// Check validates addr: a loopback IP and a port.
func Check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return ErrNotLoopback
	}
	return nil
}

// Start serves pprof on addr. It returns the address it listens on (the
// port filled in when addr asked for port 0) and a function that stops it.
func Start(addr string) (listening string, stop func(), err error) {
	if err := Check(addr); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return ln.Addr().String(), func() { srv.Close() }, nil
}
