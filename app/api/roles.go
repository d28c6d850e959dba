package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// roleCacheTTL is how long a participant's roles, read from the ledger, are
// trusted by the pre-admission role check. The check only turns away
// requests the contract would refuse anyway (TT-R07), so a stale answer
// costs at most one refused request that the contract would have judged.
const roleCacheTTL = 2 * time.Second

// roleCache remembers participants' roles for roleCacheTTL.
type roleCache struct {
	mu      sync.Mutex
	entries map[string]roleEntry
}

type roleEntry struct {
	roles []string
	at    time.Time
}

// rolesOf returns the roles of the caller mspID on the ledger; known is
// false when they cannot be had (not registered, ledger unavailable), and
// the contract then decides alone.
func (s *Server) rolesOf(ctx context.Context, mspID string) (roles []string, known bool) {
	now := time.Now()
	s.roles.mu.Lock()
	e, ok := s.roles.entries[mspID]
	s.roles.mu.Unlock()
	if ok && now.Sub(e.at) < roleCacheTTL {
		return e.roles, true
	}
	raw, err := s.svc.Query(ctx, mspID, contract.FnGetParticipant, contract.IDRequest{ID: mspID})
	if err != nil {
		return nil, false
	}
	var p contract.Participant
	if json.Unmarshal(raw, &p) != nil {
		return nil, false
	}
	s.roles.mu.Lock()
	if s.roles.entries == nil || len(s.roles.entries) > 10000 {
		s.roles.entries = map[string]roleEntry{}
	}
	s.roles.entries[mspID] = roleEntry{roles: p.Roles, at: now}
	s.roles.mu.Unlock()
	return p.Roles, true
}

// mayCall refuses, before the request reads its body or takes a slot, a
// caller none of whose roles may ever succeed on the route (the roles of
// TT-R07 in docs/rules.md). Routes open to a batch's owner or holder,
// whatever their role, are not checked here: the contract decides.
func (s *Server) mayCall(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := identityOf(c)
			have, known := s.rolesOf(c.Request().Context(), id.MSPID)
			if known && !slices.ContainsFunc(have, func(r string) bool { return slices.Contains(roles, r) }) {
				return &contract.Error{Kind: contract.KindForbidden, Rule: contract.RuleRole,
					Detail: fmt.Sprintf("%s may not call this route: that needs the role %s", id.MSPID, strings.Join(roles, " or "))}
			}
			return next(c)
		}
	}
}
