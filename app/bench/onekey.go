package bench

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gw "github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// The Fabric ceiling: the onekey chaincode (chaincode/cmd/onekey-cc), whose
// Put writes one key and does nothing else, submitted through the Fabric
// Gateway exactly as tokentrail's Fabric ledger submits a write — one
// organisation's identity, endorsement planned by the gateway for the
// chaincode's policy (two organisations), then waiting for the commit
// status — by the same number of concurrent clients, on the same network
// with the same block settings.

// devNetwork is the part of network/.dev/network.json the driver reads.
type devNetwork struct {
	Channel       string `json:"channel"`
	Organizations map[string]struct {
		CertPath    string `json:"certPath"`
		KeyPath     string `json:"keyPath"`
		GatewayPeer string `json:"gatewayPeer"`
	} `json:"organizations"`
	Peers map[string]struct {
		Address         string `json:"address"`
		TLSRootCertPath string `json:"tlsRootCertPath"`
		ServerName      string `json:"serverName"`
	} `json:"peers"`
}

func dialGateway(c Config) (*gw.Gateway, *grpc.ClientConn, string, error) {
	b, err := os.ReadFile(c.Network)
	if err != nil {
		return nil, nil, "", fmt.Errorf("--network: %w", err)
	}
	var nw devNetwork
	if err := json.Unmarshal(b, &nw); err != nil {
		return nil, nil, "", fmt.Errorf("--network %s: %w", c.Network, err)
	}
	org, ok := nw.Organizations[c.Org]
	if !ok {
		return nil, nil, "", fmt.Errorf("--org %s is not in %s", c.Org, c.Network)
	}
	peer, ok := nw.Peers[org.GatewayPeer]
	if !ok {
		return nil, nil, "", fmt.Errorf("gateway peer %s of %s is not in %s", org.GatewayPeer, c.Org, c.Network)
	}
	host, _, err := net.SplitHostPort(peer.Address)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, nil, "", fmt.Errorf("peer %s at %s is not on loopback", org.GatewayPeer, peer.Address)
	}
	rootPEM, err := os.ReadFile(peer.TLSRootCertPath)
	if err != nil {
		return nil, nil, "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, nil, "", fmt.Errorf("no certificate in %s", peer.TLSRootCertPath)
	}
	conn, err := grpc.NewClient(peer.Address, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, peer.ServerName)))
	if err != nil {
		return nil, nil, "", err
	}
	certPEM, err := os.ReadFile(org.CertPath)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	id, err := identity.NewX509Identity(c.Org, cert)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	keyPEM, err := os.ReadFile(org.KeyPath)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	g, err := gw.Connect(id, gw.WithSign(sign), gw.WithHash(hash.SHA256), gw.WithClientConnection(conn),
		gw.WithEvaluateTimeout(30*time.Second), gw.WithEndorseTimeout(30*time.Second),
		gw.WithSubmitTimeout(30*time.Second), gw.WithCommitStatusTimeout(c.Timeout))
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	return g, conn, nw.Channel, nil
}

// runOneKey submits Put(key, value) from c.Clients clients in a closed loop.
func runOneKey(ctx context.Context, c Config) (*Result, error) {
	gate, conn, channel, err := dialGateway(c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer gate.Close()
	cc := gate.GetNetwork(channel).GetContract(c.Chaincode)
	raw := make([]byte, (c.ValueSize+1)/2)
	_, _ = rand.Read(raw)
	value := hex.EncodeToString(raw)[:c.ValueSize]
	tag := runTag()
	// One transaction first: the chaincode is there and the network takes writes.
	if _, err := cc.SubmitTransaction("Put", tag+"-probe", value); err != nil {
		return nil, fmt.Errorf("onekey probe: %w", err)
	}
	res := newResult(c)
	res.URL = ""
	rss := startRSS(c)
	load0 := loadAvg()
	runCtx := ctx
	cancel := context.CancelFunc(func() {})
	if c.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, c.Duration)
	}
	defer cancel()
	var issued, committedTx atomic.Int64
	samples := make([][]sample, c.Clients)
	var mu sync.Mutex
	blocks := map[uint64]int{}
	errs := map[string]int{}
	var wg sync.WaitGroup
	fmt.Fprintf(c.Progress, "bench: onekey: %d clients as %s, duration %v, requests %d\n", c.Clients, c.Org, c.Duration, c.Requests)
	start := time.Now()
	for w := 0; w < c.Clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				if runCtx.Err() != nil || (c.Requests > 0 && issued.Add(1) > int64(c.Requests)) {
					return
				}
				key := fmt.Sprintf("%s-%d-%d", tag, w, n)
				t0 := time.Now()
				// Not bound to runCtx: a transaction started is waited for.
				_, commit, err := cc.SubmitAsync("Put", gw.WithArguments(key, value))
				var st *gw.Status
				if err == nil {
					st, err = commit.Status()
				}
				lat := time.Since(t0)
				code := 200
				if err == nil && !st.Successful {
					err = errors.New("commit " + st.Code.String())
				}
				if err != nil {
					code = 0
					mu.Lock()
					errs[errorKind(err)]++
					mu.Unlock()
				} else {
					committedTx.Add(1)
					mu.Lock()
					blocks[st.BlockNumber]++
					mu.Unlock()
				}
				samples[w] = append(samples[w], sample{lat, code})
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.finish(samples, elapsed, committedTx.Load(), true)
	delete(res.Errors, "transport")
	for k, v := range errs {
		res.Errors[k] = v
	}
	if len(blocks) > 0 {
		res.TxPerBlock = float64(committedTx.Load()) / float64(len(blocks))
	}
	res.RSS = rss.stop()
	res.Machine.LoadBefore, res.Machine.LoadAfter = load0, loadAvg()
	return res, nil
}

func errorKind(err error) string {
	if s, ok := status.FromError(err); ok {
		return "grpc " + s.Code().String()
	}
	var ce *gw.CommitError
	if errors.As(err, &ce) {
		return "commit " + ce.Code.String()
	}
	return err.Error()
}
