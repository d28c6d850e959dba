package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/app/auth"
)

// binary builds the tokentrail command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tokentrail-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tokentrail")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// server is a running `tokentrail serve`.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	data   string
	logs   *syncBuffer
	done   chan error
	keys   map[string]string // by MSP ID
	client *http.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs serve on a free port with dataDir and waits for its ready
// line. The process is stopped when the test ends.
func startServer(t *testing.T, bin, dataDir string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "TOKENTRAIL_ADDR=", "TOKENTRAIL_CONFIG=", "TOKENTRAIL_LEDGER=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, data: dataDir, logs: &syncBuffer{}, done: make(chan error, 1), client: &http.Client{Timeout: 30 * time.Second}}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "tokentrail ready" {
				ready <- rec.URL
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { s.stop() })
	select {
	case s.url = <-ready:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve exited before it was ready: %v\n%s", err, s.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready after 60 s:\n%s", s.logs.String())
	}
	if creds, err := auth.ReadDevCredentials(filepath.Join(dataDir, auth.DevCredentialsFile)); err == nil {
		s.keys = map[string]string{}
		for _, o := range creds.Organizations {
			s.keys[o.MSPID] = o.APIKey
		}
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("serve did not stop within 40 s after SIGTERM")
	}
}

// call sends a request as org and returns the status and body.
func (s *server) call(method, path, org string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if org != "" {
		req.Header.Set("Authorization", "Bearer "+s.keys[org])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// callNoFatal is call for other goroutines: transport errors give status 0.
func (s *server) callNoFatal(method, path, org string, body any) (int, []byte) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.keys[org])
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// must calls and requires status want, decoding into out when it is not nil.
func (s *server) must(want int, method, path, org string, body, out any) []byte {
	s.t.Helper()
	code, b := s.call(method, path, org, body)
	if code != want {
		s.t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, org, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

func (s *server) logContains(text string) bool { return strings.Contains(s.logs.String(), text) }

func sleep() { time.Sleep(100 * time.Millisecond) }
