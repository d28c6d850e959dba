package main

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestPprofServesProfiles(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var log bytes.Buffer
	stop, err := startPprof(addr, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(log.String(), addr) {
		t.Fatalf("pprof answered %d; log %q", res.StatusCode, log.String())
	}
}
