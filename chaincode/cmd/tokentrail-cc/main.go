// Command tokentrail-cc serves the tokentrail chaincode as an external
// service (Fabric's chaincode-as-a-service): it listens on an address, and
// the peers whose ccaas package points there dial in and run transactions
// over the connection. All configuration comes from the environment, so the
// same binary runs under a script, systemd or a container.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/tokentrail/tokentrail/chaincode/fabric"
)

// Environment variables.
const (
	envID          = "CHAINCODE_ID"
	envAddress     = "CHAINCODE_SERVER_ADDRESS"
	envTLSOff      = "CHAINCODE_TLS_DISABLED"
	envTLSCert     = "CHAINCODE_TLS_CERT"
	envTLSKey      = "CHAINCODE_TLS_KEY"
	envTLSClientCA = "CHAINCODE_TLS_CLIENT_CA_CERT"
)

const usage = `tokentrail-cc serves the tokentrail chaincode as an external service
(chaincode-as-a-service) for Hyperledger Fabric peers.

Usage: tokentrail-cc [--help]

Configuration is read from the environment only:

  CHAINCODE_ID                  required: the chaincode package ID the peers
                                were given at install (label:sha256)
  CHAINCODE_SERVER_ADDRESS      required: host:port to listen on, e.g.
                                127.0.0.1:9999 (the "address" in the package's
                                connection.json)
  CHAINCODE_TLS_DISABLED        true or false; defaults to true when none of
                                the TLS files below is given, false otherwise
  CHAINCODE_TLS_CERT            PEM file: the server certificate (needs the
                                listen address as a SAN, e.g. IP 127.0.0.1)
  CHAINCODE_TLS_KEY             PEM file: the server certificate's private key
  CHAINCODE_TLS_CLIENT_CA_CERT  PEM file: CA certificates of the peers' client
                                certificates; when given, peers must present
                                one (mutual TLS)
  CHAINCODE_PPROF_ADDR          loopback host:port to serve Go's pprof
                                profiles on, e.g. 127.0.0.1:6061 (off when
                                unset)

TLS on the server must match "tls_required" in connection.json.
It exits 0 on SIGINT or SIGTERM, 1 when the server fails, 2 on bad
configuration.
`

// config is everything the server needs, built from the environment.
type config struct {
	ccID    string
	address string
	pprof   string // loopback address for pprof, "" when off
	tls     shim.TLSProperties
	warning string // a setting that was ignored, for the log
}

// configError is a problem with the configuration, as opposed to a failure
// while serving.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error {
	return &configError{msg: fmt.Sprintf(format, a...)}
}

// loadConfig reads the configuration through getenv (os.Getenv in main). An
// empty variable counts as unset.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{ccID: getenv(envID), address: getenv(envAddress)}
	if c.ccID == "" {
		return c, configErrorf("%s is not set: give the chaincode package ID the peers were given at install (label:hash)", envID)
	}
	if c.address == "" {
		return c, configErrorf("%s is not set: give the host:port to listen on, e.g. 127.0.0.1:9999", envAddress)
	}
	if _, port, err := net.SplitHostPort(c.address); err != nil || port == "" {
		return c, configErrorf("%s=%q is not a host:port address", envAddress, c.address)
	}
	c.pprof = getenv(envPprof)
	if err := checkPprofAddr(c.pprof); err != nil {
		return c, err
	}

	cert, key, ca := getenv(envTLSCert), getenv(envTLSKey), getenv(envTLSClientCA)
	anyFile := cert != "" || key != "" || ca != ""
	disabled := !anyFile
	if v := getenv(envTLSOff); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, configErrorf("%s=%q is not a boolean (true or false)", envTLSOff, v)
		}
		disabled = b
	}
	if disabled {
		c.tls = shim.TLSProperties{Disabled: true}
		if anyFile {
			c.warning = fmt.Sprintf("%s=true: ignoring %s, %s and %s", envTLSOff, envTLSCert, envTLSKey, envTLSClientCA)
		}
		return c, nil
	}

	if cert == "" || key == "" {
		return c, configErrorf("TLS is on, so both %s and %s must name PEM files (or set %s=true)", envTLSCert, envTLSKey, envTLSOff)
	}
	var err error
	if c.tls.Cert, err = readFile(envTLSCert, cert); err != nil {
		return c, err
	}
	if c.tls.Key, err = readFile(envTLSKey, key); err != nil {
		return c, err
	}
	if _, err := tls.X509KeyPair(c.tls.Cert, c.tls.Key); err != nil {
		return c, configErrorf("%s and %s are not a matching PEM certificate and key: %v", envTLSCert, envTLSKey, err)
	}
	if ca != "" {
		if c.tls.ClientCACerts, err = readFile(envTLSClientCA, ca); err != nil {
			return c, err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(c.tls.ClientCACerts) {
			return c, configErrorf("%s=%s holds no PEM certificate", envTLSClientCA, ca)
		}
	}
	return c, nil
}

func readFile(env, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, configErrorf("%s: %v", env, err)
	}
	return b, nil
}

// serve runs the chaincode server until it fails or ctx ends. The shim's
// server cannot be stopped, so on ctx's end serve returns and leaves the
// process to exit.
func serve(ctx context.Context, c config, log io.Writer) error {
	cc, err := fabric.NewChaincode()
	if err != nil {
		return err
	}
	if c.pprof != "" {
		stop, err := startPprof(c.pprof, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv := &shim.ChaincodeServer{CCID: c.ccID, Address: c.address, CC: cc, TLSProps: c.tls}
	errc := make(chan error, 1)
	go func() { errc <- srv.Start() }()
	mode := "TLS"
	switch {
	case c.tls.Disabled:
		mode = "plaintext"
	case c.tls.ClientCACerts != nil:
		mode = "mutual TLS"
	}
	fmt.Fprintf(log, "tokentrail-cc: starting %s on %s (%s)\n", c.ccID, c.address, mode)
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("server stopped")
		}
		return fmt.Errorf("chaincode server on %s: %w", c.address, err)
	case <-ctx.Done():
		fmt.Fprintln(log, "tokentrail-cc: stopping")
		return nil
	}
}

// run is main with its dependencies passed in; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokentrail-cc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokentrail-cc: unexpected argument %q; configuration comes from the environment (see --help)\n", fs.Arg(0))
		return 2
	}
	c, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "tokentrail-cc: %v\n", err)
		return 2
	}
	if c.warning != "" {
		fmt.Fprintf(stderr, "tokentrail-cc: warning: %s\n", c.warning)
	}
	if err := serve(ctx, c, stderr); err != nil {
		fmt.Fprintf(stderr, "tokentrail-cc: %v\n", err)
		return 1
	}
	return 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
