// Command onekey-cc is the smallest useful chaincode: each transaction writes
// or reads one key. It runs as a chaincode service (CCaaS) and serves as the
// throughput ceiling for benchmarks and as the network's smoke-test chaincode:
// whatever tokentrail's contract costs on top of Fabric is measured against it.
//
// Functions:
//
//	Put(key, value)  stores value at key and returns nothing
//	Get(key)         returns the value at key, or an error if there is none
//
// Configuration comes from the environment, with the same names the
// tokentrail-cc command uses and scripts/network.sh sets:
//
//	CHAINCODE_ID                  package ID printed by "peer lifecycle chaincode install"
//	CHAINCODE_SERVER_ADDRESS      host:port to listen on, e.g. 127.0.0.1:7250
//	CHAINCODE_TLS_CERT            PEM file: server certificate (TLS is off when unset)
//	CHAINCODE_TLS_KEY             PEM file: server private key
//	CHAINCODE_TLS_CLIENT_CA_CERT  PEM file: CA for peer client certificates (mutual TLS when set)
//
// Each CHAINCODE_TLS_* value may also be the PEM text itself instead of a path.
package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// oneKey implements shim.Chaincode directly: no contract API, no JSON, so the
// cost measured is Fabric's own.
type oneKey struct{}

func (oneKey) Init(shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

func (oneKey) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, args := stub.GetFunctionAndParameters()
	switch fn {
	case "Put":
		if len(args) != 2 || args[0] == "" {
			return shim.Error("Put takes a non-empty key and a value")
		}
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "Get":
		if len(args) != 1 || args[0] == "" {
			return shim.Error("Get takes a non-empty key")
		}
		v, err := stub.GetState(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		if v == nil {
			return shim.Error(fmt.Sprintf("key %q not found", args[0]))
		}
		return shim.Success(v)
	default:
		return shim.Error(fmt.Sprintf("unknown function %q (want Put or Get)", fn))
	}
}

func main() {
	srv, err := server(os.Getenv)
	if err != nil {
		log.Fatalf("onekey-cc: %v", err)
	}
	log.Printf("onekey-cc: serving %s on %s (tls=%t)", srv.CCID, srv.Address, !srv.TLSProps.Disabled)
	if err := srv.Start(); err != nil {
		log.Fatalf("onekey-cc: %v", err)
	}
}

// server builds the chaincode server from the environment.
func server(getenv func(string) string) (*shim.ChaincodeServer, error) {
	id, addr := getenv("CHAINCODE_ID"), getenv("CHAINCODE_SERVER_ADDRESS")
	if id == "" || addr == "" {
		return nil, errors.New("CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS must be set")
	}
	tls := shim.TLSProperties{Disabled: true}
	if getenv("CHAINCODE_TLS_CERT") != "" || getenv("CHAINCODE_TLS_KEY") != "" {
		cert, err := pem(getenv, "CHAINCODE_TLS_CERT")
		if err != nil {
			return nil, err
		}
		key, err := pem(getenv, "CHAINCODE_TLS_KEY")
		if err != nil {
			return nil, err
		}
		tls = shim.TLSProperties{Cert: cert, Key: key}
		if getenv("CHAINCODE_TLS_CLIENT_CA_CERT") != "" {
			if tls.ClientCACerts, err = pem(getenv, "CHAINCODE_TLS_CLIENT_CA_CERT"); err != nil {
				return nil, err
			}
		}
	}
	return &shim.ChaincodeServer{CCID: id, Address: addr, CC: oneKey{}, TLSProps: tls}, nil
}

// pem returns the PEM text named by the environment variable: either its
// value itself or the content of the file it names.
func pem(getenv func(string) string, name string) ([]byte, error) {
	v := getenv(name)
	if v == "" {
		return nil, fmt.Errorf("%s must be set when TLS is used", name)
	}
	if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
