package debugserver

import (
	"errors"
	"net/http"
	"testing"
)

func TestStartOnlyOnLoopback(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "localhost:6060", "127.0.0.1"} {
		if _, _, err := Start(bad); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%q: %v, want ErrNotLoopback", bad, err)
		}
	}
	addr, stop, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("goroutine profile: %d", resp.StatusCode)
	}
}
