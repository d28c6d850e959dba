package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tokentrail/tokentrail/app/receipt"
)

func verify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "verify --trust ANCHOR.pem RECEIPT.json", stderr)
	var trust string
	fs.StringVar(&trust, "trust", "", "trust anchor: a PEM file of the ledger's public key(s) or root certificates, or the JSON answer of GET /api/v1/ledger (its trustAnchor is used); obtained from the operator or the API, never from the receipt (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if trust == "" || fs.NArg() != 1 {
		return usagef("verify needs --trust ANCHOR.pem and one receipt file")
	}
	anchor, err := os.ReadFile(trust)
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	anchor = anchorPEM(anchor)
	doc, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	proof, err := receipt.Verify(doc, anchor)
	if err != nil {
		fmt.Fprintf(stderr, "NOT VERIFIED: %v\n", err)
		return errUnproven
	}
	fmt.Fprintf(stdout, "VERIFIED: %s\n", proof.Summary())
	return nil
}

// anchorPEM returns the trust anchor in b: b itself when it is PEM text, or
// the trustAnchor field when b is the JSON answer of GET /api/v1/ledger.
func anchorPEM(b []byte) []byte {
	var info struct {
		TrustAnchor string `json:"trustAnchor"`
	}
	if json.Unmarshal(b, &info) == nil && info.TrustAnchor != "" {
		return []byte(info.TrustAnchor)
	}
	return b
}
