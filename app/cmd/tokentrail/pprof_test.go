package main

import (
	"io"
	"net/http"
	"testing"
)

func TestPprofOnlyOnLoopback(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "TOKENTRAIL_PPROF_ADDR" {
				return v
			}
			return ""
		}
	}
	for _, bad := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "localhost"} {
		if _, _, err := startPprof(env(bad), io.Discard); err == nil {
			t.Errorf("TOKENTRAIL_PPROF_ADDR=%q accepted", bad)
		}
	}
	addr, stop, err := startPprof(env(""), io.Discard)
	if err != nil || addr != "" {
		t.Fatalf("unset: listening on %q, %v", addr, err)
	}
	stop()
	addr, stop, err = startPprof(env("127.0.0.1:0"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /debug/pprof/: %d", resp.StatusCode)
	}
}
