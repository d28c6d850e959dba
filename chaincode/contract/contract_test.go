package contract_test

import (
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

func TestConformanceMemLedger(t *testing.T) {
	contracttest.Run(t, func(t *testing.T, clock *contracttest.Clock) contracttest.Ledger {
		return contracttest.NewMemLedger(clock.Now)
	})
}
