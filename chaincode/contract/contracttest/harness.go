package contracttest

import (
	"testing"
)

type scenario struct {
	name string
	run  func(t *testing.T, h *harness)
}

// scenarios is filled in by scenarios.go.
var scenarios []scenario

type harness struct {
	t     *testing.T
	l     Ledger
	clock *Clock
}

func newHarness(t *testing.T, l Ledger, clock *Clock) *harness {
	return &harness{t: t, l: l, clock: clock}
}
