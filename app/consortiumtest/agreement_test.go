package consortiumtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// agNode is one organisation's tokentrail node as the agreement test
// drives it: its base URL and the organisation's own API key.
type agNode struct {
	msp string
	url string
	key string
}

var agClient = &http.Client{Timeout: 90 * time.Second}

// call sends a request with the given key and returns the status and body.
func (n agNode) call(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := agClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (n agNode) must(t *testing.T, want int, method, path string, body any) []byte {
	t.Helper()
	code, b := n.call(t, method, path, n.key, body)
	if code != want {
		t.Fatalf("%s %s through %s's node: %d, want %d: %s", method, path, n.msp, code, want, b)
	}
	return b
}

// agConsortium loads the consortium the test runs against, or skips.
func agConsortium(t *testing.T) *Consortium {
	t.Helper()
	path := os.Getenv(EnvFile)
	if path == "" {
		t.Skipf("no consortium: set %s to network/.dev/consortium.json (scripts/test-consortium.sh does)", EnvFile)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func agKey(t *testing.T, path, msp string) string {
	t.Helper()
	var creds struct {
		Organizations []struct {
			MSPID  string `json:"mspId"`
			APIKey string `json:"apiKey"`
		} `json:"organizations"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(creds.Organizations) != 1 || creds.Organizations[0].MSPID != msp || creds.Organizations[0].APIKey == "" {
		t.Fatalf("%s holds %d keys (want one, %s's)", path, len(creds.Organizations), msp)
	}
	return creds.Organizations[0].APIKey
}

func agEventually(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestConsortiumAgreement: every organisation's node, each on its own host
// with only its own identity and key, answers for its own organisation only
// and refuses every other organisation's key; a batch collected through the
// provider's node, assessed through the auditor's and traded through the
// exchange's reads the same through every node that may read it.
func TestConsortiumAgreement(t *testing.T) {
	c := agConsortium(t)
	nodes := map[string]agNode{}
	var msps []string
	for _, h := range c.Hosts {
		if h.Node.URL == "" {
			continue
		}
		nodes[h.MSPID] = agNode{msp: h.MSPID, url: h.Node.URL, key: agKey(t, h.Node.Credentials, h.MSPID)}
		msps = append(msps, h.MSPID)
	}
	for _, want := range []string{"RegulatorMSP", "ProviderMSP", "ExchangeMSP", "AuditorMSP", "ProcessorMSP", "ConsumerMSP"} {
		if _, ok := nodes[want]; !ok {
			t.Fatalf("the consortium has no node of %s", want)
		}
	}

	var sharedCreds struct {
		Organizations []struct {
			MSPID  string `json:"mspId"`
			APIKey string `json:"apiKey"`
		} `json:"organizations"`
	}
	if b, err := os.ReadFile(filepath.Join(c.Dev, "dev-credentials.json")); err != nil {
		t.Fatalf("the shared development keys: %v", err)
	} else if err := json.Unmarshal(b, &sharedCreds); err != nil || len(sharedCreds.Organizations) == 0 {
		t.Fatalf("the shared development keys: %v (%d keys)", err, len(sharedCreds.Organizations))
	}
	shared := sharedCreds.Organizations

	// Each node knows its own organisation and no other's key.
	for _, msp := range msps {
		n := nodes[msp]
		var who struct {
			MSPID string `json:"mspId"`
		}
		if err := json.Unmarshal(n.must(t, 200, "GET", "/api/v1/whoami", nil), &who); err != nil || who.MSPID != msp {
			t.Errorf("%s's node: whoami %+v (%v)", msp, who, err)
		}
		for _, other := range msps {
			if other == msp {
				continue
			}
			if code, b := n.call(t, "GET", "/api/v1/whoami", nodes[other].key, nil); code != 401 {
				t.Errorf("%s's node answered %s's key with %d, want 401: %s", msp, other, code, b)
			}
		}
		if code, _ := n.call(t, "GET", "/api/v1/whoami", "", nil); code != 401 {
			t.Errorf("%s's node answered a request without a key with %d, want 401", msp, code)
		}
		// Nor the keys of the shared development configuration, which holds
		// every organisation's.
		for _, k := range shared {
			if code, b := n.call(t, "GET", "/api/v1/whoami", k.APIKey, nil); code != 401 {
				t.Errorf("%s's node answered the shared configuration's key of %s with %d, want 401: %s", msp, k.MSPID, code, b)
			}
		}
	}

	prov, aud, exch := nodes["ProviderMSP"], nodes["AuditorMSP"], nodes["ExchangeMSP"]
	stamp := time.Now().UnixNano()
	prefix := fmt.Sprintf("cons%d-", stamp)
	batch := prefix + "b"
	prov.must(t, 201, "POST", "/api/v1/batches", agBatch(batch, stamp))
	// The provider's node holds no key of the exchange's: it cannot trade.
	if code, b := prov.call(t, "POST", "/api/v1/trades", exch.key, agTrade(prefix+"T-0", batch)); code != 401 {
		t.Errorf("a trade through the provider's node with the exchange's key: %d, want 401: %s", code, b)
	}
	if !agEventually(60*time.Second, func() bool { code, _ := aud.call(t, "GET", "/api/v1/batches/"+batch, aud.key, nil); return code == 200 }) {
		t.Fatalf("the batch collected through the provider's node is not readable through the auditor's within 60 s")
	}
	aud.must(t, 201, "POST", "/api/v1/batches/"+batch+"/assessments", map[string]any{"score": 88, "method": "review"})
	if !agEventually(60*time.Second, func() bool {
		_, b := exch.call(t, "GET", "/api/v1/batches/"+batch+"/events", exch.key, nil)
		return bytes.Contains(b, []byte("ASSESSED"))
	}) {
		t.Fatalf("the assessment is not readable through the exchange's node within 60 s")
	}
	exch.must(t, 201, "POST", "/api/v1/trades", agTrade(prefix+"T-1", batch))

	// same: GET path reads byte for byte the same through the readers'
	// nodes, and holds want.
	same := func(path, want string, readers ...string) {
		t.Helper()
		var last map[string][]byte
		ok := agEventually(60*time.Second, func() bool {
			last = map[string][]byte{}
			var first []byte
			for _, msp := range readers {
				n := nodes[msp]
				code, b := n.call(t, "GET", path, n.key, nil)
				if code != 200 {
					last[msp] = append([]byte(strconv.Itoa(code)+" "), b...)
					return false
				}
				last[msp] = b
				if first == nil {
					first = b
				} else if !bytes.Equal(first, b) {
					return false
				}
			}
			return bytes.Contains(first, []byte(want))
		})
		if !ok {
			for msp, b := range last {
				t.Errorf("GET %s through %s's node: %s", path, msp, b)
			}
			t.Fatalf("GET %s does not read the same through the nodes of %v", path, readers)
		}
	}
	all := []string{"ProviderMSP", "ExchangeMSP", "RegulatorMSP", "AuditorMSP"}
	same("/api/v1/batches/"+batch, batch, all...)
	same("/api/v1/batches/"+batch+"/events", "TRADED", all...)
	same("/api/v1/trades?batchId="+batch, prefix+"T-1", "ExchangeMSP", "RegulatorMSP")
	// The processor neither holds nor bought the batch: its node must not
	// read it (the ledger answers as if there were none).
	if code, b := nodes["ProcessorMSP"].call(t, "GET", "/api/v1/batches/"+batch, nodes["ProcessorMSP"].key, nil); code != 404 {
		t.Errorf("the processor's node reads a batch it has no part in: %d %s", code, b)
	}
	if code, b := exch.call(t, "GET", "/api/v1/trades?batchId="+batch, exch.key, nil); code != 200 || bytes.Contains(b, []byte(prefix+"T-0")) {
		t.Errorf("the refused trade is on the ledger, or the trades do not read: %d %s", code, b)
	}

	// A second batch goes to the processor through the provider's node and
	// is processed through the processor's node, which submits through the
	// provider's peer on another host: the output and the input's history
	// read the same through every node that may read them.
	proc := nodes["ProcessorMSP"]
	in, out := prefix+"in", prefix+"out"
	prov.must(t, 201, "POST", "/api/v1/batches", agBatch(in, stamp+1))
	prov.must(t, 201, "POST", "/api/v1/batches/"+in+"/circulations",
		map[string]any{"to": "ProcessorMSP", "purpose": "model-training", "accessMode": "copy"})
	if !agEventually(60*time.Second, func() bool { code, _ := proc.call(t, "GET", "/api/v1/batches/"+in, proc.key, nil); return code == 200 }) {
		t.Fatalf("the circulated batch is not readable through the processor's node within 60 s")
	}
	proc.must(t, 201, "POST", "/api/v1/processing", map[string]any{
		"inputs": []string{in}, "operations": []string{"deduplication", "tokenization"},
		"tool": map[string]string{"name": "corpus-builder", "version": "1.0"},
		"outputs": []any{map[string]any{"id": out, "name": "processed " + in,
			"tokens":        map[string]any{"count": 1_500_000, "tokenizer": "o200k_base"},
			"contentDigest": fmt.Sprintf("sha256:%064x", (stamp+2)%1_000_000_007), "sizeBytes": 7_000_000, "records": 40_000}},
	})
	same("/api/v1/batches/"+out, out, "ProcessorMSP", "RegulatorMSP", "AuditorMSP", "ExchangeMSP")
	same("/api/v1/batches/"+in+"/events", "PROCESSED", "ProviderMSP", "ProcessorMSP", "RegulatorMSP", "AuditorMSP", "ExchangeMSP")
	// The consumer has no part in either batch.
	if code, b := nodes["ConsumerMSP"].call(t, "GET", "/api/v1/batches/"+out, nodes["ConsumerMSP"].key, nil); code != 404 {
		t.Errorf("the consumer's node reads a batch it has no part in: %d %s", code, b)
	}
}

func agBatch(id string, n int64) map[string]any {
	return map[string]any{
		"id": id, "name": "batch " + id, "sector": "finance", "modality": "tabular",
		"tokens":        map[string]any{"count": 2_000_000, "tokenizer": "o200k_base"},
		"contentDigest": fmt.Sprintf("sha256:%064x", n%1_000_000_007),
		"sizeBytes":     9_000_000, "records": 50_000, "classification": "general", "personalInfo": "none",
		"deidentification": "none", "legalBasis": "contract", "purposes": []string{"model-training", "research"},
		"region": "CN", "source": map[string]any{"type": "enterprise", "region": "CN"},
	}
}

func agTrade(id, batch string) map[string]any {
	return map[string]any{"tradeId": id, "batchId": batch, "seller": "ProviderMSP", "buyer": "ConsumerMSP",
		"tokens": 100_000, "rights": "licence", "purposes": []string{"research"},
		"terms": map[string]any{"unitPrice": 20, "currency": "CNY", "priceUnit": "1M tokens"}}
}

// TestConsortiumCertificatesNameHosts: every peer and orderer presents a
// certificate that its organisation's TLS CA verifies for the node's own
// name (dialled through the hub's proxy), for its host's name and for its
// host's address (both dialled directly), and that another organisation's
// CA does not verify.
func TestConsortiumCertificatesNameHosts(t *testing.T) {
	c := agConsortium(t)
	proxyOf := func(name string) (Proxy, bool) {
		for _, p := range c.Proxies {
			if p.Name == name {
				return p, true
			}
		}
		return Proxy{}, false
	}
	pool := func(path string) *x509.CertPool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			t.Fatalf("%s holds no certificate", path)
		}
		return p
	}
	dial := func(addr, serverName string, roots *x509.CertPool) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err
	}
	// A CA of an organisation the node is not of: the regulator's, or the
	// provider's for the regulator's own nodes.
	regulator, _ := c.Host("RegulatorMSP")
	provider, _ := c.Host("ProviderMSP")
	checked := 0
	for _, h := range c.Hosts {
		type node struct{ name, ca string }
		var ns []node
		if h.Peer != "" {
			ns = append(ns, node{h.Peer, h.TLSRootCert})
		}
		for _, o := range h.Orderers {
			// The orderer's TLS name is <ordererN>.<its organisation's domain>.
			for _, p := range c.Proxies {
				if strings.HasPrefix(p.Name, o+".") && strings.HasPrefix(p.Upstream, h.Address+":") {
					dom := strings.TrimPrefix(p.Name, o+".")
					ns = append(ns, node{p.Name, filepath.Join(c.Dev, "crypto", "ordererOrganizations", dom, "tlsca", "tlsca."+dom+"-cert.pem")})
				}
			}
		}
		if len(ns) != len(h.Orderers)+map[bool]int{true: 1, false: 0}[h.Peer != ""] {
			t.Fatalf("%s: not every node of the host has a proxy: %+v", h.Org, ns)
		}
		other := regulator.TLSRootCert
		if h.MSPID == "RegulatorMSP" {
			other = provider.TLSRootCert
		}
		for _, n := range ns {
			p, ok := proxyOf(n.name)
			if !ok {
				t.Fatalf("no proxy for %s", n.name)
			}
			_, port, _ := net.SplitHostPort(p.Upstream)
			roots := pool(n.ca)
			for _, d := range []struct{ how, addr, name string }{
				{"by its name, through the hub's proxy", net.JoinHostPort(n.name, port), n.name},
				{"by its host's name", net.JoinHostPort(h.HostName, port), h.HostName},
				{"by its host's address", net.JoinHostPort(h.Address, port), h.Address},
			} {
				if err := dial(d.addr, d.name, roots); err != nil {
					t.Errorf("%s %s (%s): %v", n.name, d.how, d.addr, err)
				}
			}
			err := dial(net.JoinHostPort(h.HostName, port), h.HostName, pool(other))
			var unknown x509.UnknownAuthorityError
			if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") && !errors.As(err, &unknown) {
				t.Errorf("%s: another organisation's CA (%s) verified it or the dial failed otherwise: %v", n.name, filepath.Base(other), err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no peer or orderer to check")
	}
	t.Logf("%d nodes present certificates naming themselves, their hosts and their hosts' addresses", checked)
}

// agToxiproxy sends one request to the Toxiproxy API.
func agToxiproxy(t *testing.T, c *Consortium, method, path string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.Hub.ToxiproxyAPI, "/")+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := agClient.Do(req)
	if err != nil {
		t.Fatalf("Toxiproxy API: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestConsortiumNamesGoThroughProxies: a node's name leads to its proxy on
// the hub: with the exchange's peer's proxy disabled, the peer cannot be
// reached by its name, while its host still reaches it directly; enabled
// again, it can.
func TestConsortiumNamesGoThroughProxies(t *testing.T) {
	c := agConsortium(t)
	h, ok := c.Host("ExchangeMSP")
	if !ok || h.Peer == "" {
		t.Fatal("no exchange host with a peer")
	}
	var px Proxy
	for _, p := range c.Proxies {
		if p.Name == h.Peer {
			px = p
		}
	}
	if px.Name == "" {
		t.Fatalf("no proxy for %s", h.Peer)
	}
	_, port, _ := net.SplitHostPort(px.Upstream)
	dial := func(addr string) error {
		conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		// Toxiproxy accepts nothing on a disabled proxy's port; an
		// enabled one relays the peer's TLS handshake.
		return tls.Client(conn, &tls.Config{ServerName: h.Peer, InsecureSkipVerify: true}).HandshakeContext(context.Background()) // reachability only: certificates are TestConsortiumCertificatesNameHosts's
	}
	byName := net.JoinHostPort(h.Peer, port)
	if err := dial(byName); err != nil {
		t.Fatalf("%s by its name: %v", h.Peer, err)
	}
	t.Cleanup(func() { agToxiproxy(t, c, "POST", "/proxies/"+px.Name, map[string]any{"enabled": true}) })
	if code, b := agToxiproxy(t, c, "POST", "/proxies/"+px.Name, map[string]any{"enabled": false}); code != 200 {
		t.Fatalf("disabling proxy %s: %d %s", px.Name, code, b)
	}
	if err := dial(byName); err == nil {
		t.Errorf("%s reached by its name with its proxy disabled: the name does not lead through the hub", h.Peer)
	}
	if err := dial(px.Upstream); err != nil {
		t.Errorf("%s directly at %s with its proxy disabled: %v", h.Peer, px.Upstream, err)
	}
	if code, b := agToxiproxy(t, c, "POST", "/proxies/"+px.Name, map[string]any{"enabled": true}); code != 200 {
		t.Fatalf("enabling proxy %s: %d %s", px.Name, code, b)
	}
	if err := dial(byName); err != nil {
		t.Errorf("%s by its name with its proxy enabled again: %v", h.Peer, err)
	}
}
