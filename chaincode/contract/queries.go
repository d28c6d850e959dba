package contract

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// readRequest decodes a query's request and returns it with the caller, who
// must be a registered participant.
func readRequest[T any](t *txn, args []byte) (*T, *Participant, error) {
	req := new(T)
	if err := decode(args, req); err != nil {
		return nil, nil, err
	}
	p, err := t.reader()
	if err != nil {
		return nil, nil, err
	}
	return req, p, nil
}

// visibleBatch returns the batch with id when the caller may read it now
// ([MayRead]); a batch it may not read is answered as a missing one.
func (t *txn) visibleBatch(p *Participant, field, id string) (*Batch, error) {
	if err := checkID(field, id); err != nil {
		return nil, err
	}
	return t.readable(p, field, id)
}

func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, invalid("pageSize", "must be between 1 and %d", MaxPageSize)
	}
	return n, nil
}

// Page tokens are the last key of the previous page, base64url-encoded. A
// token is accepted only for the range it was issued for.
func encodeToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeToken(token, prefix string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(b), prefix) || len(b) > 1024 {
		return "", invalid("pageToken", "is not a page token of this list; start again without it")
	}
	return string(b), nil
}

// after is the first key after key in ascending order.
func after(key string) string { return key + "\x00" }

// maxScan bounds how many index entries one page may examine, so a filter
// that matches little cannot turn one request into a scan of the ledger.
const maxScan = 5000

// pageOver ranges over [start, end) from the token on, giving each entry to
// keep until it has taken size items; it returns the next page token.
func (t *txn) pageOver(prefix, start, end, token string, size int, keep func(key string, v []byte) (bool, error)) (string, error) {
	last, err := decodeToken(token, prefix)
	if err != nil {
		return "", err
	}
	if last != "" {
		if last < start || last >= end {
			return "", invalid("pageToken", "is outside this list; start again without it")
		}
		start = after(last)
	}
	taken, scanned, next := 0, 0, ""
	err = t.st.Range(start, end, func(k string, v []byte) (bool, error) {
		if taken == size || scanned == maxScan {
			next = encodeToken(last)
			return false, nil
		}
		scanned++
		last = k
		ok, err := keep(k, v)
		if ok {
			taken++
		}
		return true, err
	})
	return next, err
}

func getBatch(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[IDRequest](t, args)
	if err != nil {
		return nil, err
	}
	return t.visibleBatch(p, "id", req.ID)
}

func listBatches(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[ListBatchesRequest](t, args)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	if err := checkOptionalEnum("sector", req.Sector, sectors); err != nil {
		return nil, err
	}
	if err := checkOptionalEnum("modality", req.Modality, modalities); err != nil {
		return nil, err
	}
	if err := checkOptionalEnum("status", req.Status, []string{StatusActive, StatusFrozen, StatusRetired}); err != nil {
		return nil, err
	}
	if req.Owner != "" {
		if err := checkMSP("owner", req.Owner); err != nil {
			return nil, err
		}
	}
	// Walk the most selective index the request allows.
	var prefix string
	indexed := true
	switch {
	case req.Owner != "":
		prefix = join(kOwner+req.Owner, "")
	case !hasAnyRole(p, RoleRegulator, RoleAuditor, RoleExchange):
		prefix = join(kCustody+p.MSPID, "")
	case req.Sector != "":
		prefix = join(kSector+req.Sector, "")
	default:
		prefix, indexed = kBatch, false
	}
	items := []Batch{}
	next, err := t.pageOver(prefix, prefix, prefixEnd(prefix), req.PageToken, size, func(k string, v []byte) (bool, error) {
		var b *Batch
		if indexed {
			var err error
			if b, err = t.batch(k[len(prefix):]); err != nil || b == nil {
				return false, err
			}
		} else {
			b = new(Batch)
			if err := json.Unmarshal(v, b); err != nil {
				return false, err
			}
			if err := t.migrateBatch(b); err != nil {
				return false, err
			}
		}
		if (req.Sector != "" && b.Sector != req.Sector) || (req.Modality != "" && b.Modality != req.Modality) ||
			(req.Status != "" && b.Status != req.Status) || (req.Owner != "" && b.Owner != req.Owner) || !MayRead(p, b, t.now) {
			return false, nil
		}
		items = append(items, *b)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return Page[Batch]{Items: items, NextPageToken: next}, nil
}

func history(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[HistoryRequest](t, args)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	if _, err := t.visibleBatch(p, "batchId", req.BatchID); err != nil {
		return nil, err
	}
	prefix := join(kHistory+req.BatchID, "")
	// Events are immutable and stored as the contract encoded them (compact
	// JSON from json.Marshal): the page is written around them as they are,
	// the same bytes json.Marshal of a Page[json.RawMessage] would give.
	out := append(make([]byte, 0, 512*size), `{"items":[`...)
	n := 0
	next, err := t.pageOver(prefix, prefix, prefixEnd(prefix), req.PageToken, size, func(_ string, v []byte) (bool, error) {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, v...)
		n++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	token, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	out = append(out, `],"nextPageToken":`...)
	out = append(append(out, token...), '}')
	return encoded(out), nil
}

// maxGraphNodes bounds a lineage or impact answer.
const maxGraphNodes = 10000

// edges returns the edges at prefix (a batch's parents or children) in key order.
func (t *txn) edges(prefix string) ([]Edge, error) {
	var out []Edge
	err := t.st.Range(prefix, prefixEnd(prefix), func(_ string, v []byte) (bool, error) {
		var e Edge
		if err := json.Unmarshal(v, &e); err != nil {
			return false, err
		}
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// walk visits the graph from root breadth first, up (parents) or down
// (children), to depth. It returns the nodes met, with their distance, and
// the edges followed, and whether it stopped at the depth or size limit with
// more to see.
func (t *txn) walk(root string, up bool, depth int, visit func(b *Batch, distance int), edge func(Edge)) (bool, error) {
	seen := map[string]bool{root: true}
	level := []string{root}
	truncated := false
	for d := 1; len(level) > 0; d++ {
		var nextLevel []string
		for _, id := range level {
			prefix := join(kChild+id, "")
			if up {
				prefix = join(kParent+id, "")
			}
			es, err := t.edges(prefix)
			if err != nil {
				return false, err
			}
			if len(es) > 0 && d > depth {
				truncated = true
				break
			}
			for _, e := range es {
				other := e.To
				if up {
					other = e.From
				}
				edge(e)
				if seen[other] {
					continue
				}
				if len(seen) >= maxGraphNodes {
					truncated = true
					continue
				}
				seen[other] = true
				b, err := t.batch(other)
				if err != nil {
					return false, err
				}
				if b == nil {
					continue
				}
				dist := d
				if up {
					dist = -d
				}
				visit(b, dist)
				nextLevel = append(nextLevel, other)
			}
		}
		if d > depth {
			break
		}
		level = nextLevel
	}
	return truncated, nil
}

func lineage(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[LineageRequest](t, args)
	if err != nil {
		return nil, err
	}
	if req.Direction == "" {
		req.Direction = "both"
	}
	if err := checkEnum("direction", req.Direction, []string{"up", "down", "both"}); err != nil {
		return nil, err
	}
	switch {
	case req.Depth == 0:
		req.Depth = DefaultDepth
	case req.Depth < 1 || req.Depth > MaxDepth:
		return nil, invalid("depth", "must be between 1 and %d", MaxDepth)
	}
	root, err := t.visibleBatch(p, "batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	out := Lineage{Root: root.ID, Direction: req.Direction, Depth: req.Depth, Nodes: []Node{{Batch: *root}}, Edges: []Edge{}}
	visit := func(b *Batch, d int) { out.Nodes = append(out.Nodes, viewNode(p, b, d, t.now)) }
	seenEdge := map[string]bool{}
	edge := func(e Edge) {
		k := e.From + "/" + e.To
		if !seenEdge[k] {
			seenEdge[k] = true
			out.Edges = append(out.Edges, e)
		}
	}
	for _, up := range []bool{true, false} {
		if (up && req.Direction == "down") || (!up && req.Direction == "up") {
			continue
		}
		tr, err := t.walk(root.ID, up, req.Depth, visit, edge)
		if err != nil {
			return nil, err
		}
		out.Truncated = out.Truncated || tr
	}
	// Keep only edges between nodes in the answer.
	in := map[string]bool{}
	for _, n := range out.Nodes {
		in[n.ID] = true
	}
	// An edge is the PROCESSED event of both its ends: its event, its
	// transaction and its operations are shown when the caller may read
	// either end (that batch's history holds the event), only the
	// structure when it may read neither.
	readableNode := map[string]bool{}
	for _, n := range out.Nodes {
		readableNode[n.ID] = !n.Redacted
	}
	kept := out.Edges[:0]
	for _, e := range out.Edges {
		if in[e.From] && in[e.To] {
			if !readableNode[e.From] && !readableNode[e.To] {
				e = Edge{From: e.From, To: e.To, Redacted: true}
			}
			kept = append(kept, e)
		}
	}
	out.Edges = kept
	return out, nil
}

// viewNode is b as p may see it in a graph at now: whole, or its ID and
// status only (see [Node.MarshalJSON]).
func viewNode(p *Participant, b *Batch, distance int, now time.Time) Node {
	if MayRead(p, b, now) {
		return Node{Distance: distance, Batch: *b}
	}
	return Node{Distance: distance, Batch: Batch{ID: b.ID, Status: b.Status}, Redacted: true}
}

func impact(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[IDRequest](t, args)
	if err != nil {
		return nil, err
	}
	if !hasAnyRole(p, RoleRegulator, RoleAuditor) {
		return nil, forbidden("%s may not read the impact of a batch: that needs the role regulator or auditor", p.MSPID)
	}
	root, err := t.visibleBatch(p, "id", req.ID)
	if err != nil {
		return nil, err
	}
	out := Impact{Root: root.ID, Batches: []ImpactBatch{}, Holders: []string{}}
	var visitErr error
	add := func(b *Batch, d int) {
		if visitErr != nil {
			return
		}
		ib := ImpactBatch{Distance: d, BatchID: b.ID, Name: b.Name, Owner: b.Owner, Status: b.Status, Custodians: b.Custodians,
			Circulations: []Event{}, Trades: []Trade{}}
		if ib.Circulations, visitErr = t.batchCirculations(b.ID); visitErr != nil {
			return
		}
		if ib.Trades, visitErr = t.batchTrades(b.ID); visitErr != nil {
			return
		}
		out.Batches = append(out.Batches, ib)
		out.Holders = append(out.Holders, b.Custodians...)
		out.CirculationCount += len(ib.Circulations)
		out.TradeCount += len(ib.Trades)
	}
	add(root, 0)
	if _, err := t.walk(root.ID, false, math.MaxInt32, add, func(Edge) {}); err != nil {
		return nil, err
	}
	if visitErr != nil {
		return nil, visitErr
	}
	out.Holders = sortedSet(out.Holders)
	return out, nil
}

func getEvent(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[IDRequest](t, args)
	if err != nil {
		return nil, err
	}
	if err := checkID("id", req.ID); err != nil {
		return nil, err
	}
	var loc eventLoc
	ok, err := t.getJSON(kEventRef+req.ID, &loc)
	if err != nil {
		return nil, err
	}
	// An event of a batch the caller may not read is answered as a missing
	// event, without naming the batch.
	hidden := &Error{Kind: KindNotFound, Field: "id", Detail: "event " + req.ID + " does not exist or is not visible to the caller"}
	if !ok {
		return nil, hidden
	}
	if b, err := t.batch(loc.BatchID); err != nil {
		return nil, err
	} else if b == nil || !MayRead(p, b, t.now) {
		return nil, hidden
	}
	var e Event
	if ok, err := t.getJSON(join(kHistory+loc.BatchID, seqKey(loc.Seq)), &e); err != nil || !ok {
		return nil, err
	}
	return EventRef{Event: e, TxID: loc.TxID}, nil
}

// timeBound parses an optional RFC 3339 bound into a key bound.
func timeBound(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	ts, err := checkTime(field, v)
	if err != nil {
		return "", err
	}
	return ts.UTC().Format(timeKeyLayout), nil
}

func listTrades(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[ListTradesRequest](t, args)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	from, err := timeBound("from", req.From)
	if err != nil {
		return nil, err
	}
	to, err := timeBound("to", req.To)
	if err != nil {
		return nil, err
	}
	chunked, err := t.chunked()
	if err != nil {
		return nil, err
	}
	var prefix, start, end string
	expand := tradeEntries
	if req.BatchID != "" {
		if _, err := t.visibleBatch(p, "batchId", req.BatchID); err != nil {
			return nil, err
		}
		prefix = join(kBatchTrade+req.BatchID, "")
		if chunked {
			// The batch's trades are the TRADED events of its history,
			// whose records are read by trade ID.
			prefix = join(kHistory+req.BatchID, "")
			expand = func(k string, v []byte) ([]entry, error) {
				e, ok, err := tradedEvent(k, v)
				if err != nil || !ok {
					return nil, err
				}
				rk := join(kTrade+e.Traded.Exchange, e.Traded.TradeID)
				rv, err := t.get(rk)
				if err != nil {
					return nil, err
				}
				tr, err := tradeOfRecord(rk, rv, &e)
				if err != nil {
					return nil, err
				}
				b, err := json.Marshal(tr)
				return []entry{{k, b}}, err
			}
		}
		start, end = prefix, prefixEnd(prefix)
	} else {
		prefix, start, end = kTradeTime, kTradeTime, prefixEnd(kTradeTime)
		if from != "" {
			start = kTradeTime + from
		}
		if to != "" {
			end = kTradeTime + to
		}
	}
	seeAll := hasAnyRole(p, RoleRegulator, RoleAuditor, RoleExchange)
	cache := map[string]bool{}
	items := []Trade{}
	next, err := t.pageOverEntries(prefix, start, end, req.PageToken, size, expand, func(_ string, v []byte) (bool, error) {
		var tr Trade
		if err := json.Unmarshal(v, &tr); err != nil {
			return false, err
		}
		if !inWindow(tr.Timestamp, from, to) {
			return false, nil
		}
		if !seeAll {
			ok, seen := cache[tr.BatchID]
			if !seen {
				b, err := t.batch(tr.BatchID)
				if err != nil {
					return false, err
				}
				ok = b != nil && MayRead(p, b, t.now)
				cache[tr.BatchID] = ok
			}
			if !ok {
				return false, nil
			}
		}
		if contains(p.Roles, RoleRegulator) || tr.Exchange == p.MSPID {
			// The salt stays in the collection: the API shows terms only.
			rec, err := t.readTerms(join(kTerms+tr.Exchange, tr.TradeID))
			if err != nil {
				return false, err
			}
			if rec != nil {
				tr.Terms = &rec.Terms
			}
		}
		items = append(items, tr)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return Page[Trade]{Items: items, NextPageToken: next}, nil
}

// inWindow reports whether an RFC 3339 timestamp lies in [from, to), where
// the bounds are key-formatted and may be empty.
func inWindow(ts, from, to string) bool {
	tm, err := parseTime(ts)
	if err != nil {
		return false
	}
	k := tm.UTC().Format(timeKeyLayout)
	return (from == "" || k >= from) && (to == "" || k < to)
}
