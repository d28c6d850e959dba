package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHelpListsEveryVariable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("--help exited %d: %s", code, errOut.String())
	}
	for _, env := range []string{envID, envAddress, envTLSOff, envTLSCert, envTLSKey, envTLSClientCA, envPprof} {
		if !strings.Contains(out.String(), env) {
			t.Errorf("--help does not mention %s", env)
		}
	}
}

func TestRunRefusesBadInvocation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "argument", args: []string{"serve"}, want: "unexpected argument"},
		{name: "unknown flag", args: []string{"--port=1"}, want: "flag provided but not defined"},
		{name: "no environment", want: envID + " is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, getenv(tc.env), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tc.want)
			}
		})
	}
}

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testPKI writes a CA and a server certificate for 127.0.0.1 signed by it.
type testPKI struct {
	caPool                    *x509.CertPool
	caFile, certFile, keyFile string
	otherKeyFile              string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	notBefore, notAfter := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey := newKey()
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "chaincode"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testPKI{
		caPool:       pool,
		caFile:       write("ca.pem", "CERTIFICATE", caDER),
		certFile:     write("server.pem", "CERTIFICATE", srvDER),
		keyFile:      writeKey("server.key", srvKey),
		otherKeyFile: writeKey("other.key", newKey()),
	}
}

func TestLoadConfig(t *testing.T) {
	pki := newTestPKI(t)
	base := func(kv ...string) map[string]string {
		m := map[string]string{envID: "tokentrail_1.0:abc", envAddress: "127.0.0.1:9999"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name        string
		env         map[string]string
		wantErr     string // substring of the error; empty: no error
		wantTLS     bool
		wantMutual  bool
		wantWarning bool
	}{
		{name: "plaintext by default", env: base()},
		{name: "no ID", env: map[string]string{envAddress: "127.0.0.1:9999"}, wantErr: envID + " is not set"},
		{name: "no address", env: map[string]string{envID: "x"}, wantErr: envAddress + " is not set"},
		{name: "address without port", env: base(envAddress, "127.0.0.1"), wantErr: "not a host:port"},
		{name: "TLS disabled not a boolean", env: base(envTLSOff, "maybe"), wantErr: "not a boolean"},
		{name: "TLS on by default with files", env: base(envTLSCert, pki.certFile, envTLSKey, pki.keyFile), wantTLS: true},
		{name: "mutual TLS", env: base(envTLSCert, pki.certFile, envTLSKey, pki.keyFile, envTLSClientCA, pki.caFile),
			wantTLS: true, wantMutual: true},
		{name: "TLS asked for without files", env: base(envTLSOff, "false"), wantErr: "must name PEM files"},
		{name: "key without certificate", env: base(envTLSKey, pki.keyFile), wantErr: "must name PEM files"},
		{name: "missing certificate file", env: base(envTLSCert, filepath.Join(t.TempDir(), "none.pem"), envTLSKey, pki.keyFile),
			wantErr: envTLSCert + ":"},
		{name: "key of another certificate", env: base(envTLSCert, pki.certFile, envTLSKey, pki.otherKeyFile),
			wantErr: "not a matching PEM certificate and key"},
		{name: "client CA file without PEM", env: base(envTLSCert, pki.certFile, envTLSKey, pki.keyFile, envTLSClientCA, pki.keyFile),
			wantErr: "holds no PEM certificate"},
		{name: "pprof on loopback", env: base(envPprof, "127.0.0.1:6061")},
		{name: "pprof beyond loopback", env: base(envPprof, "0.0.0.0:6061"), wantErr: "must be a loopback"},
		{name: "pprof by host name", env: base(envPprof, "localhost:6061"), wantErr: "must be a loopback"},
		{name: "explicitly disabled with files", env: base(envTLSOff, "true", envTLSCert, pki.certFile, envTLSKey, pki.keyFile),
			wantWarning: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(getenv(tc.env))
			if tc.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a configError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.ccID != tc.env[envID] || c.address != tc.env[envAddress] {
				t.Errorf("id %q address %q", c.ccID, c.address)
			}
			if c.tls.Disabled == tc.wantTLS {
				t.Errorf("TLS disabled = %v, want %v", c.tls.Disabled, !tc.wantTLS)
			}
			if tc.wantTLS && (len(c.tls.Cert) == 0 || len(c.tls.Key) == 0) {
				t.Error("TLS on without the certificate and key loaded")
			}
			if (len(c.tls.ClientCACerts) > 0) != tc.wantMutual {
				t.Errorf("client CA loaded = %v, want %v", len(c.tls.ClientCACerts) > 0, tc.wantMutual)
			}
			if (c.warning != "") != tc.wantWarning {
				t.Errorf("warning %q, want one: %v", c.warning, tc.wantWarning)
			}
		})
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeTLS starts the server with TLS and checks that a client trusting
// the test CA completes a handshake with it, then stops it.
func TestServeTLS(t *testing.T) {
	pki := newTestPKI(t)
	addr := freeAddress(t)
	c, err := loadConfig(getenv(map[string]string{envID: "tokentrail_1.0:abc", envAddress: addr,
		envTLSCert: pki.certFile, envTLSKey: pki.keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, &log) }()

	cfg := &tls.Config{RootCAs: pki.caPool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}}
	var conn *tls.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, cfg)
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("TLS handshake with the chaincode server: %v", err)
	}
	conn.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

func TestServeFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errOut bytes.Buffer
	env := map[string]string{envID: "tokentrail_1.0:abc", envAddress: ln.Addr().String()}
	code := run(context.Background(), nil, getenv(env), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "chaincode server on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming the address", code, errOut.String())
	}
}
