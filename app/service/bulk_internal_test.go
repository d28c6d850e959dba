package service

import (
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

func TestRoleRefusal(t *testing.T) {
	forbidden := &ItemError{Kind: string(contract.KindForbidden), Rule: contract.RuleRole, Detail: "no"}
	if err := roleRefusal([]BulkItem{{Error: forbidden}, {Error: forbidden}}); err == nil {
		t.Fatal("every trade refused for the role: want an error")
	}
	mixed := []BulkItem{{Error: forbidden}, {Status: contract.BulkCommitted}}
	if err := roleRefusal(mixed); err != nil {
		t.Fatalf("a chunk with a committed trade: %v", err)
	}
	if err := roleRefusal([]BulkItem{{Error: &ItemError{Kind: "rule"}}}); err != nil {
		t.Fatalf("rule refusals: %v", err)
	}
}
