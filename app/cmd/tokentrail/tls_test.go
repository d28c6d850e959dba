package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeTLS starts serve with --tls-cert and --tls-key and talks to it
// over HTTPS, trusting only the server's own certificate; plain HTTP to the
// same port gets no API answer.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokentrail test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))

	s := startServer(t, buildBinary(t), filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("serve with TLS announced %s", s.url)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var ledger struct{ Kind string }
	s.must(200, "GET", "/api/v1/ledger", "AuditorMSP", nil, &ledger)
	if ledger.Kind != "embedded" {
		t.Fatalf("ledger over TLS: %+v", ledger)
	}
	s.must(201, "POST", "/api/v1/batches", "ProviderMSP", collectReq("tls-1", 1), nil)

	// A client that does not trust the certificate is refused by TLS.
	untrusting := &http.Client{Timeout: 10 * time.Second}
	if resp, err := untrusting.Get(s.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the certificate was served")
	}
	// Plain HTTP to the TLS port is not served the API.
	plain := "http://" + strings.TrimPrefix(s.url, "https://")
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(plain + "/healthz"); err == nil {
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
}
