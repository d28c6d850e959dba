package fabric

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// TestInvalidTxErrorSaysWhat: the error of a transaction committed invalid
// names the transaction and the validation code (it was once an empty
// string), and is found with errors.As through wrapping.
func TestInvalidTxErrorSaysWhat(t *testing.T) {
	err := fmt.Errorf("submit: %w", &InvalidTxError{TransactionID: "tx-1", Code: peer.TxValidationCode_MVCC_READ_CONFLICT})
	if msg := err.Error(); !strings.Contains(msg, "tx-1") || !strings.Contains(msg, "MVCC_READ_CONFLICT") {
		t.Fatalf("message %q", msg)
	}
	var ie *InvalidTxError
	if !errors.As(err, &ie) || !retryable(ie.Code) {
		t.Fatalf("errors.As: %v, retryable %v", ie, ie != nil && retryable(ie.Code))
	}
}
