package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestAuthorizationMatrix submits every write route as every role of the
// development consortium, each on a fresh ledger prepared so that the write
// would succeed for an allowed caller. Allowed callers get 201/200; others
// 403 with rule TT-R07 — or, where the permission follows custody rather than
// role (circulating), 422 with rule TT-R08; a caller that may not read the
// batch at all (the consumer) gets 404, as for a batch that does not exist.
func TestAuthorizationMatrix(t *testing.T) {
	const (
		ok      = 0 // the route's success status
		role    = http.StatusForbidden
		custody = http.StatusUnprocessableEntity
		hidden  = http.StatusNotFound
	)
	type route struct {
		name, method, path string
		success            int
		body               func() any
		want               map[string]int // by org; missing: role
	}
	reason := func() any { return map[string]any{"reason": "matrix"} }
	routes := []route{
		{"register participant", "POST", "/api/v1/participants", 201,
			func() any {
				return map[string]any{"mspId": "NewMSP", "name": "New", "roles": []string{"consumer"}, "region": "CN"}
			}, map[string]int{regulator: ok}},
		{"suspend participant", "POST", "/api/v1/participants/ConsumerMSP/suspend", 200, reason, map[string]int{regulator: ok}},
		{"collect", "POST", "/api/v1/batches", 201, func() any { return collectBody("new") }, map[string]int{provider: ok}},
		{"process", "POST", "/api/v1/processing", 201, func() any {
			return map[string]any{"inputs": []string{"b"}, "operations": []string{"labeling"},
				"tool": map[string]string{"name": "label", "version": "1"}, "outputs": []any{outputBody("out", 1000)}}
		}, map[string]int{provider: ok, processor: ok, consumer: hidden}},
		{"assess", "POST", "/api/v1/batches/b/assessments", 201, func() any { return map[string]any{"score": 75, "method": "m"} },
			map[string]int{processor: ok, auditor: ok, exchange: ok}},
		{"circulate", "POST", "/api/v1/batches/b/circulations", 201, func() any {
			return map[string]any{"to": "LabMSP", "purpose": "evaluation", "accessMode": "sandbox"}
		}, map[string]int{provider: ok, processor: ok, regulator: custody, exchange: custody, consumer: hidden, auditor: custody}},
		{"trade", "POST", "/api/v1/trades", 201, func() any { return tradeBodyFor("t", "b", 5) }, map[string]int{exchange: ok}},
		{"bulk trade", "POST", "/api/v1/trades:bulk", 200, func() any {
			return map[string]any{"trades": []any{tradeBodyFor("t1", "b", 5), tradeBodyFor("t2", "b", 6)}}
		}, map[string]int{exchange: ok}},
		{"audit", "POST", "/api/v1/batches/b/audits", 201, func() any {
			return map[string]any{"scope": "privacy", "findings": []any{}, "verdict": "compliant"}
		}, map[string]int{auditor: ok}},
		{"freeze", "POST", "/api/v1/batches/b/freeze", 200, reason, map[string]int{regulator: ok}},
		{"unfreeze", "POST", "/api/v1/batches/frozen/unfreeze", 200, reason, map[string]int{regulator: ok}},
		{"retire", "POST", "/api/v1/batches/b/retire", 200, func() any { return map[string]any{"reason": "other"} },
			map[string]int{provider: ok, regulator: ok, consumer: hidden}},
	}
	for _, r := range routes {
		for _, org := range allOrgs {
			t.Run(fmt.Sprintf("%s as %s", r.name, org), func(t *testing.T) {
				e := newEnv(t)
				e.must(201, "POST", "/api/v1/participants", regulator,
					map[string]any{"mspId": "LabMSP", "name": "Lab", "roles": []string{"consumer"}, "region": "CN"}, nil)
				// b: owned by the provider, assessed, held by the processor.
				e.collected("b")
				e.must(201, "POST", "/api/v1/batches/b/circulations", provider,
					map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
				e.collected("frozen")
				e.must(200, "POST", "/api/v1/batches/frozen/freeze", regulator, map[string]any{"reason": "setup"}, nil)

				want, listed := r.want[org]
				if !listed {
					want = role
				}
				if want == ok {
					want = r.success
				}
				rec := e.do(r.method, r.path, org, r.body())
				if rec.Code != want {
					t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body.String())
				}
				switch want {
				case role:
					if p := problemOf(t, rec); p.Rule != contract.RuleRole {
						t.Errorf("403 with rule %q, want %s", p.Rule, contract.RuleRole)
					}
				case custody:
					if p := problemOf(t, rec); p.Rule != contract.RuleCustody {
						t.Errorf("422 with rule %q, want %s", p.Rule, contract.RuleCustody)
					}
				}
			})
		}
	}
}
