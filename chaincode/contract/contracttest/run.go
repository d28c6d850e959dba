package contracttest

import "testing"

// NewLedgerFunc returns a fresh, empty ledger whose transactions are stamped
// with clock.Now().
type NewLedgerFunc func(t *testing.T, clock *Clock) Ledger

// Run runs every conformance scenario against ledgers made by newLedger.
func Run(t *testing.T, newLedger NewLedgerFunc) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			clock := NewClock()
			s.run(t, newHarness(t, newLedger(t, clock), clock))
		})
	}
}
