package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowBody opens a connection to addr and sends a bulk-trade request as key
// whose body trickles in one byte every 100 ms until stop closes. It returns
// the status line's code and when it arrived, once the server answers.
func slowBody(t *testing.T, addr, key string, stop <-chan struct{}) (status <-chan int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/v1/trades:bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", key)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	out := make(chan int, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			out <- 0
			return
		}
		res.Body.Close()
		out <- res.StatusCode
	}()
	return out
}

// TestSlowBodiesHoldNoWriteSlot: 40 connections from a consumer (which may
// not trade) and 40 from an exchange (which may), all sending bulk bodies
// slowly, take no write slot: the consumer's are refused on their headers,
// the exchange's time out after the body deadline, and meanwhile every
// write of other clients succeeds.
func TestSlowBodiesHoldNoWriteSlot(t *testing.T) {
	const deadline = time.Second
	e := newEnv(t, func(c *Config) { c.BulkBodyReadTimeout = deadline; c.BodyReadTimeout = deadline })
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close) // after the connections close (cleanups run last first)
	addr := strings.TrimPrefix(ts.URL, "http://")
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })

	start := time.Now()
	var consumers, exchanges []<-chan int
	for range 40 {
		consumers = append(consumers, slowBody(t, addr, e.keys[consumer], stop))
		exchanges = append(exchanges, slowBody(t, addr, e.keys[exchange], stop))
	}

	// The consumer's requests are refused on their headers, at once.
	for i, ch := range consumers {
		select {
		case code := <-ch:
			if code != http.StatusForbidden {
				t.Fatalf("consumer connection %d: status %d, want 403", i, code)
			}
		case <-time.After(deadline / 2):
			t.Fatalf("consumer connection %d: no answer within %s", i, deadline/2)
		}
	}

	// While the exchange's bodies trickle in, nobody's writes wait: no slot
	// is taken, and 20 collections by the provider all succeed.
	if used, queued := e.srv.writes.inUse(); used != 0 || queued != 0 {
		t.Fatalf("slow bodies hold %d write slots, %d waiting", used, queued)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			body := strings.NewReader(mustJSONString(collectBody(fmt.Sprintf("during-%d", i))))
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/batches", body)
			req.Header.Set("Authorization", "Bearer "+e.keys[provider])
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("collection %d: status %d", i, res.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if time.Since(start) >= deadline {
		t.Fatalf("the other writes took %s, past the body deadline: the test proves nothing", time.Since(start))
	}

	// The exchange's requests end at the body deadline, 408.
	for i, ch := range exchanges {
		select {
		case code := <-ch:
			if code != http.StatusRequestTimeout {
				t.Fatalf("exchange connection %d: status %d, want 408", i, code)
			}
		case <-time.After(3 * deadline):
			t.Fatalf("exchange connection %d: no answer within %s", i, 3*deadline)
		}
	}
	if waited := time.Since(start); waited < deadline {
		t.Fatalf("slow bodies were answered after %s, before the deadline %s", waited, deadline)
	}
	if used, queued := e.srv.writes.inUse(); used != 0 || queued != 0 {
		t.Fatalf("after the slow bodies: %d write slots taken, %d waiting", used, queued)
	}
}
