package embedded_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tokentrail/tokentrail/app/ledger/embedded"
	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// A write, its receipt, and the receipt verified offline against the node's
// public key.
func ExampleLedger_Receipt() {
	dir, err := os.MkdirTemp("", "tokentrail-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := embedded.Open(embedded.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()

	res, err := l.Submit(ctx, "RegulatorMSP", contract.FnBootstrap,
		[]byte(`{"name":"National Data Administration","region":"CN"}`), nil)
	if err != nil {
		log.Fatal(err)
	}
	doc, err := l.Receipt(ctx, res.TxID)
	if err != nil {
		log.Fatal(err)
	}

	// The verifier gets the trust anchor from outside the receipt: here from
	// the ledger's Info (GET /api/v1/ledger), or from the operator.
	info, err := l.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := receipt.Verify(doc, []byte(info.TrustAnchor))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(proof.Function, "by", proof.Creator, "in block", proof.BlockNumber)
	// Output: Bootstrap by RegulatorMSP in block 1
}
