package api

import (
	"net/http"
	"testing"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// TestWhoami: every key is answered with its own organisation's participant
// record, nobody else's, whatever it asks; a suspended participant is
// refused 403 like every read, a missing or wrong key 401.
func TestWhoami(t *testing.T) {
	e := newEnv(t)
	for _, org := range []string{regulator, auditor, provider, processor, consumer} {
		var me, rec contract.Participant
		e.must(http.StatusOK, "GET", "/api/v1/whoami", org, nil, &me)
		e.must(http.StatusOK, "GET", "/api/v1/participants/"+org, regulator, nil, &rec)
		if me.MSPID != org || me.Name == "" || len(me.Roles) == 0 || me.Status != "active" ||
			me.Name != rec.Name || me.Region != rec.Region || len(me.Roles) != len(rec.Roles) || me.Roles[0] != rec.Roles[0] {
			t.Fatalf("%s: whoami %+v, registry %+v", org, me, rec)
		}
	}
	// Asking about someone else is not a thing whoami does.
	if rec := e.do("GET", "/api/v1/whoami?mspId="+regulator, consumer, nil); rec.Code != http.StatusBadRequest {
		t.Fatalf("whoami?mspId=: %d %s", rec.Code, rec.Body.String())
	}
	if rec := e.do("GET", "/api/v1/whoami", "", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", rec.Code)
	}
	e.must(http.StatusOK, "POST", "/api/v1/participants/"+consumer+"/suspend", regulator, map[string]any{"reason": "audit finding"}, nil)
	rec := e.do("GET", "/api/v1/whoami", consumer, nil)
	if rec.Code != http.StatusForbidden || problemOf(t, rec).Rule != "TT-R07" {
		t.Fatalf("suspended: %d %s", rec.Code, rec.Body.String())
	}
}
