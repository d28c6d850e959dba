package consortiumtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// After a fault: the nodes' answers, compared with each other and with what
// the load's clients were told.

// snapshot is what one node answers for the reads the checks make: by
// request path, "404" or the 200 body.
type snapshot map[string][]byte

// termsReaders read trades with their private terms; the others read the
// same trades without them. Trade lists are compared within each group.
var termsReaders = []string{"ExchangeMSP", "RegulatorMSP"}

// paths are the reads compared across nodes for the load's writes.
func (ld *load) paths() []string {
	var out []string
	for _, b := range append(slices.Clone(ld.assessSeeds), ld.tradeSeeds...) {
		out = append(out, "/api/v1/batches/"+url.PathEscape(b), eventsPath(b))
	}
	for _, b := range ld.tradeSeeds {
		out = append(out, "/api/v1/trades?pageSize=500&batchId="+url.QueryEscape(b))
	}
	for _, w := range ld.writes {
		if w.kind == kindCollect {
			out = append(out, eventsPath(w.key))
		}
	}
	return out
}

func eventsPath(batch string) string {
	return "/api/v1/batches/" + url.PathEscape(batch) + "/events?pageSize=500"
}

// take reads every path through n, following list pages. It fails when
// any read is answered otherwise than 200 or 404.
func take(ctx context.Context, n *node, paths []string) (snapshot, error) {
	s := snapshot{}
	for _, p := range paths {
		var all []byte
		token := ""
		for {
			q := p
			if token != "" {
				q += "&pageToken=" + url.QueryEscape(token)
			}
			r := n.do(ctx, "GET", q, nil)
			// A node limits each key's requests (50 a second with an
			// organisation's own configuration): wait as it asks.
			for tries := 0; r.status == 429 && tries < 60 && ctx.Err() == nil; tries++ {
				time.Sleep(r.retryWait())
				r = n.do(ctx, "GET", q, nil)
			}
			if r.status == 404 {
				all = []byte("404")
				break
			}
			if r.status != 200 {
				return nil, fmt.Errorf("GET %s through %s: %s", q, n.org, r)
			}
			all = append(all, r.body...)
			var page struct {
				Next string `json:"nextPageToken"`
			}
			if !strings.Contains(p, "pageSize=") || json.Unmarshal(r.body, &page) != nil || page.Next == "" {
				break
			}
			token = page.Next
		}
		s[p] = all
	}
	return s, nil
}

// takeAll reads the paths through every node at once.
func takeAll(ctx context.Context, nodes map[string]*node, paths []string) (map[string]snapshot, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]snapshot{}
	var firstErr error
	for org, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := take(ctx, n, paths)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[org] = s
		}()
	}
	wg.Wait()
	return out, firstErr
}

// differences lists the paths on which nodes answer differently.
func differences(snaps map[string]snapshot, paths []string) []string {
	var out []string
	orgs := sortedKeys(snaps)
	for _, p := range paths {
		groups := [][]string{orgs}
		if strings.HasPrefix(p, "/api/v1/trades") {
			var plain []string
			for _, o := range orgs {
				if !slices.Contains(termsReaders, o) {
					plain = append(plain, o)
				}
			}
			groups = [][]string{termsReaders, plain}
		}
		for _, g := range groups {
			for _, o := range g[1:] {
				if !bytes.Equal(snaps[g[0]][p], snaps[o][p]) {
					out = append(out, fmt.Sprintf("%s: %s answers %d bytes, %s %d", p, g[0], len(snaps[g[0]][p]), o, len(snaps[o][p])))
					break
				}
			}
		}
	}
	return out
}

// settle waits until every node answers every path byte for byte alike,
// and returns the snapshots and how long that took.
func settle(ctx context.Context, nodes map[string]*node, paths []string, limit time.Duration) (map[string]snapshot, time.Duration, []string) {
	began := time.Now()
	var last []string
	for {
		snaps, err := takeAll(ctx, nodes, paths)
		if err == nil {
			diffs := differences(snaps, paths)
			if len(diffs) == 0 {
				return snaps, time.Since(began), nil
			}
			last = diffs
		} else {
			last = []string{err.Error()}
		}
		if time.Since(began) > limit || ctx.Err() != nil {
			return snaps, time.Since(began), last
		}
		time.Sleep(time.Second)
	}
}

// events decodes the concatenated pages of a history read.
func events(raw []byte) ([]contract.Event, error) {
	if string(raw) == "404" || len(raw) == 0 {
		return nil, nil
	}
	var out []contract.Event
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var page contract.Page[contract.Event]
		if err := dec.Decode(&page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// verdict is what the checks found for one phase.
type verdict struct {
	writes           map[string]map[string]int // kind → outcome → count
	unknownRecorded  int                       // unknown outcomes found on the ledger (once)
	refusedStatuses  map[int]int
	reads            map[string]map[int]int // node → status → count
	staleReads       map[string]int         // node → 200 answers missing a write acknowledged before the read
	retriedAcked     int                    // acknowledged after more than one attempt
	slowestAck       time.Duration
	acknowledgedLast time.Time
}

// check holds every node's snapshot against the load's record and returns
// what it found and every failure.
func (ld *load) check(snaps map[string]snapshot) (verdict, []string) {
	var failures []string
	v := verdict{writes: map[string]map[string]int{}, refusedStatuses: map[int]int{}, reads: map[string]map[int]int{}, staleReads: map[string]int{}}
	for _, w := range ld.writes {
		if v.writes[w.kind] == nil {
			v.writes[w.kind] = map[string]int{}
		}
		v.writes[w.kind][w.outcome]++
		if w.outcome == acked {
			v.slowestAck = max(v.slowestAck, w.end.Sub(w.start))
			if len(w.statuses) > 1 {
				v.retriedAcked++
			}
			if w.end.After(v.acknowledgedLast) {
				v.acknowledgedLast = w.end
			}
		}
		if w.outcome == refused && len(w.statuses) > 0 {
			v.refusedStatuses[w.statuses[len(w.statuses)-1]]++
		}
	}
	errorf := func(format string, a ...any) {
		failures = append(failures, fmt.Sprintf(format, a...))
	}
	var reference map[string][]string // batch → event IDs, from the first node
	for _, org := range sortedKeys(snaps) {
		s := snaps[org]
		found := map[string][]contract.Event{} // write key → its events on this node
		histories := map[string][]string{}
		for _, b := range append(slices.Clone(ld.assessSeeds), ld.tradeSeeds...) {
			evs, err := events(s[eventsPath(b)])
			if err != nil {
				errorf("%s's history of %s: %v", org, b, err)
				continue
			}
			for i, e := range evs {
				histories[b] = append(histories[b], e.EventID)
				if e.Seq != int64(i+1) {
					errorf("%s: %s's event %d has seq %d", org, b, i, e.Seq)
				}
				switch {
				case e.Assessed != nil && strings.HasPrefix(e.Assessed.Method, ld.run+"-"):
					found[e.Assessed.Method] = append(found[e.Assessed.Method], e)
				case e.Traded != nil && strings.HasPrefix(e.Traded.TradeID, ld.run+"-"):
					found[e.Traded.TradeID] = append(found[e.Traded.TradeID], e)
				}
			}
		}
		for _, w := range ld.writes {
			if w.kind == kindCollect {
				evs, err := events(s[eventsPath(w.key)])
				if err != nil {
					errorf("%s's history of %s: %v", org, w.key, err)
				}
				for _, e := range evs {
					if e.Type == contract.EventCollected {
						found[w.key] = append(found[w.key], e)
					}
				}
			}
		}
		known := map[string]bool{}
		for _, w := range ld.writes {
			known[w.key] = true
			evs := found[w.key]
			switch {
			case w.outcome == acked && len(evs) != 1:
				errorf("%s: acknowledged %s %s (tx %s, attempts %v) is on the ledger %d times", org, w.kind, w.key, w.txID, w.statuses, len(evs))
			case w.outcome == acked && w.txID != "" && evs[0].TxID != w.txID:
				errorf("%s: acknowledged %s %s was answered with tx %s, the ledger has tx %s", org, w.kind, w.key, w.txID, evs[0].TxID)
			case w.outcome == unknown && len(evs) > 1:
				errorf("%s: %s %s (attempts %v) is on the ledger %d times", org, w.kind, w.key, w.statuses, len(evs))
			case w.outcome == refused && len(evs) > 0:
				errorf("%s: refused %s %s (attempts %v, %s) is on the ledger", org, w.kind, w.key, w.statuses, w.lastErr)
			}
			if w.outcome == unknown && len(evs) == 1 && org == sortedKeys(snaps)[0] {
				v.unknownRecorded++
			}
		}
		for k := range found {
			if !known[k] {
				errorf("%s: %s is on the ledger but was never written", org, k)
			}
		}
		if reference == nil {
			reference = histories
		}
	}

	// Reads: every 200 is a prefix of the history as it ended (never a
	// wrong answer); one that lacks a write acknowledged before the read
	// was sent is stale.
	ackedBy := map[string][]*write{}
	for _, w := range ld.writes {
		if w.outcome == acked && w.eventID != "" && w.kind != kindCollect {
			ackedBy[w.batch] = append(ackedBy[w.batch], w)
		}
	}
	for _, r := range ld.reads {
		if v.reads[r.node] == nil {
			v.reads[r.node] = map[int]int{}
		}
		v.reads[r.node][r.status]++
		if r.problem != "" {
			errorf("read of %s through %s at %s: %s", r.batch, r.node, r.start.Format("15:04:05.000"), r.problem)
			continue
		}
		if r.status != 200 {
			continue
		}
		final := reference[r.batch]
		if len(r.events) > len(final) || !slices.Equal(r.events, final[:len(r.events)]) {
			errorf("read of %s through %s at %s answered %d events that are not the start of the %d the history holds",
				r.batch, r.node, r.start.Format("15:04:05.000"), len(r.events), len(final))
			continue
		}
		for _, w := range ackedBy[r.batch] {
			if w.end.Before(r.start) && len(r.events) < 500 && !slices.Contains(r.events, w.eventID) {
				v.staleReads[r.node]++
				break
			}
		}
	}
	for _, p := range ld.problems {
		errorf("%s", p)
	}
	return v, failures
}

func (v verdict) String() string {
	var b strings.Builder
	for _, k := range sortedKeys(v.writes) {
		fmt.Fprintf(&b, "%s %v; ", k, v.writes[k])
	}
	fmt.Fprintf(&b, "unknown outcomes on the ledger once: %d; acknowledged after a retry: %d; slowest acknowledged %s; refused with %v",
		v.unknownRecorded, v.retriedAcked, v.slowestAck.Round(time.Millisecond), v.refusedStatuses)
	for _, n := range sortedKeys(v.reads) {
		fmt.Fprintf(&b, "; reads through %s %v (stale %d)", n, v.reads[n], v.staleReads[n])
	}
	return b.String()
}
