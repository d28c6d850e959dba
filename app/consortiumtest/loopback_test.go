package consortiumtest

import (
	"context"
	"fmt"
	"net"
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

// EnvLoopback names the shared configuration of a development network on
// this machine (network/.dev/tokentrail.yaml, written by scripts/network.sh
// up): with it, and without a consortium description, the fault test runs
// one node per organisation on loopback ports itself, with each
// organisation's own configuration (network/.dev/orgs/<MSP ID>/), and makes
// the faults that need no separate hosts (kills and restarts).
const EnvLoopback = "TOKENTRAIL_CONSORTIUM_LOOPBACK"

// loopbackNode is a tokentrail node the test runs as a process.
type loopbackNode struct {
	bin, config, data, addr string
	mu                      sync.Mutex
	cmd                     *exec.Cmd
	log                     *os.File
}

func (n *loopbackNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(n.bin, "serve", "--addr", n.addr, "--data", n.data, "--ledger", "fabric", "--config", n.config)
	cmd.Env = append(os.Environ(), "TOKENTRAIL_ADDR=", "TOKENTRAIL_CONFIG=", "TOKENTRAIL_LEDGER=")
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		return err
	}
	n.cmd = cmd
	go cmd.Wait()
	return nil
}

// kill sends SIGKILL, as `network.sh kill` does to a node.
func (n *loopbackNode) kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	err := n.cmd.Process.Signal(syscall.SIGKILL)
	n.cmd = nil
	return err
}

// loopbackEnv starts the organisations' nodes against the development
// network whose shared configuration is cfg.
func loopbackEnv(t *testing.T, cfg string) *env {
	dev := filepath.Dir(cfg)
	root := filepath.Dir(filepath.Dir(dev)) // network/.dev → the repository
	netScript := filepath.Join(root, "scripts", "network.sh")
	bin := filepath.Join(t.TempDir(), "tokentrail")
	build := exec.Command("go", "build", "-o", bin, "./app/cmd/tokentrail")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e := &env{nodes: map[string]*node{}, peers: map[string]string{}}
	procs := map[string]*loopbackNode{}
	for _, msp := range []string{"ProviderMSP", "ExchangeMSP", "RegulatorMSP", "AuditorMSP"} {
		dir := filepath.Join(dev, "orgs", msp)
		creds, err := auth.ReadDevCredentials(filepath.Join(dir, auth.DevCredentialsFile))
		if err != nil || len(creds.Organizations) != 1 {
			t.Fatalf("%s's credentials: %v %+v", msp, err, creds.Organizations)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		org := strings.ToLower(strings.TrimSuffix(msp, "MSP"))
		logf, err := os.Create(filepath.Join(t.TempDir(), "node.log"))
		if err != nil {
			t.Fatal(err)
		}
		p := &loopbackNode{bin: bin, config: filepath.Join(dir, "tokentrail.yaml"), data: t.TempDir(), addr: addr, log: logf}
		name := "node." + org
		procs[name] = p
		e.nodes[msp] = &node{org: msp, name: name, url: "http://" + addr, key: creds.Organizations[0].APIKey,
			client: &http.Client{Timeout: 60 * time.Second}}
		e.peers[msp] = "peer0." + org + ".tokentrail.test"
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s's log ends:\n%s", name, b)
			}
		})
	}
	run := script(netScript)
	e.ctl = func(ctx context.Context, args ...string) (string, error) {
		if len(args) == 2 && procs[args[1]] != nil {
			switch args[0] {
			case "kill":
				return "", procs[args[1]].kill()
			case "start":
				return "", procs[args[1]].start()
			}
		}
		return run(ctx, args...)
	}
	if out, err := run(context.Background(), "leader"); err == nil && strings.HasPrefix(strings.TrimSpace(out), "orderer") {
		for i := 1; i <= 4; i++ {
			e.orderers = append(e.orderers, fmt.Sprintf("orderer%d", i))
		}
		if b, _ := os.ReadFile(filepath.Join(dev, "ports.env")); !strings.Contains(strings.ToLower(string(b)), "bft") {
			e.orderers = e.orderers[:3]
		}
	}
	for msp, n := range e.nodes {
		if waitReady(context.Background(), n, 90*time.Second) < 0 {
			t.Fatalf("%s's node not ready within 90 s", msp)
		}
	}
	return e
}
