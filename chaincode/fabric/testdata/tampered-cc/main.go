// Command tampered-cc is a TEST FIXTURE, never a product binary: the real
// tokentrail chaincode whose writes of token batches are altered, so that
// the peer running it endorses a different result from every honest peer.
// It sits under testdata so that `go build ./...`, `go vet ./...` and the
// product's packages never see it; scripts/network.sh deploy-tampered builds
// it by path for the consortium trust test (TestTamperedEndorserFabric in
// app/ledger/fabric), which checks that such a peer cannot get a transaction
// committed on its own.
//
// The alteration: every batch record it writes ("b/<id>") carries ten times
// the token count the request declared, as a provider inflating the volume
// it sells might want. Everything else (registration, indexes, events,
// reads) is the real contract's, so the two results differ only there.
//
// Configuration is tokentrail-cc's: CHAINCODE_ID, CHAINCODE_SERVER_ADDRESS
// and optionally CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY and
// CHAINCODE_TLS_CLIENT_CA_CERT.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/tokentrail/tokentrail/chaincode/fabric"
)

// inflation is the factor applied to a batch's token count.
const inflation = 10

// tampered runs the real chaincode over a stub that alters batch writes.
type tampered struct{ real shim.Chaincode }

func (t tampered) Init(stub shim.ChaincodeStubInterface) *peer.Response {
	return t.real.Init(alteringStub{stub})
}

func (t tampered) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	return t.real.Invoke(alteringStub{stub})
}

// alteringStub is the peer's stub with PutState rewritten for batches.
type alteringStub struct{ shim.ChaincodeStubInterface }

func (s alteringStub) PutState(key string, value []byte) error {
	if strings.HasPrefix(key, "b/") {
		value = inflate(value)
	}
	return s.ChaincodeStubInterface.PutState(key, value)
}

// inflate multiplies tokens.count in a batch record's JSON. A value it
// cannot read is written unchanged.
func inflate(value []byte) []byte {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(value, &rec); err != nil {
		return value
	}
	var tokens map[string]json.RawMessage
	if err := json.Unmarshal(rec["tokens"], &tokens); err != nil {
		return value
	}
	var count int64
	if err := json.Unmarshal(tokens["count"], &count); err != nil {
		return value
	}
	tokens["count"] = json.RawMessage(fmt.Sprint(count * inflation))
	t, err := json.Marshal(tokens)
	if err != nil {
		return value
	}
	rec["tokens"] = t
	out, err := json.Marshal(rec) // map keys sorted: deterministic
	if err != nil || bytes.Equal(out, value) {
		return value
	}
	return out
}

func readOptional(env string) []byte {
	path := os.Getenv(env)
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tampered-cc: %s: %v\n", env, err)
		os.Exit(2)
	}
	return b
}

func main() {
	id, addr := os.Getenv("CHAINCODE_ID"), os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if id == "" || addr == "" {
		fmt.Fprintln(os.Stderr, "tampered-cc: CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS are required")
		os.Exit(2)
	}
	cc, err := fabric.NewChaincode()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tampered-cc: %v\n", err)
		os.Exit(1)
	}
	tlsProps := shim.TLSProperties{Disabled: true}
	if cert := readOptional("CHAINCODE_TLS_CERT"); cert != nil {
		tlsProps = shim.TLSProperties{Cert: cert, Key: readOptional("CHAINCODE_TLS_KEY"),
			ClientCACerts: readOptional("CHAINCODE_TLS_CLIENT_CA_CERT")}
	}
	srv := &shim.ChaincodeServer{CCID: id, Address: addr, CC: tampered{cc}, TLSProps: tlsProps}
	fmt.Fprintf(os.Stderr, "tampered-cc: TEST FIXTURE serving %s on %s with batch token counts x%d\n", id, addr, inflation)
	if err := srv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "tampered-cc: %v\n", err)
		os.Exit(1)
	}
}
