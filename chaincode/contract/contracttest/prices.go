package contracttest

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// The price index's privacy attacks. Each attacker gathers everything the
// index shows it and tries to recover the unit price of a trade it did not
// take part in, to within 1%; every method is also run on what unrestricted
// publishing (the regulator's view, or the raw prices) would give, where it
// must recover prices, so that the attacks are known to work.

// More participants of the price scenario.
const (
	exchange2 = "Exchange2MSP" // a second exchange
	newcomer  = "NewcomerMSP"  // a consumer party to no trade
	buyer2    = "Buyer2MSP"    // a second buyer
)

// pxTrade is one trade of the scenario and what the attackers may not learn.
type pxTrade struct {
	id                      string
	exchange, seller, buyer string
	sector, currency        string
	tokens                  int64
	price                   float64
	at                      time.Time
}

func (x *pxTrade) partyTo(org string) bool {
	return org == regulator || x.exchange == org || x.seller == org || x.buyer == org
}

// pxWorld is the scenario's ground truth.
type pxWorld struct {
	h      *harness
	trades []*pxTrade
	k      int
}

var (
	pxMar2  = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	pxMar3  = pxMar2.AddDate(0, 0, 1)
	pxMar4  = pxMar2.AddDate(0, 0, 2)
	pxMar5  = pxMar2.AddDate(0, 0, 3)
	pxMar6  = pxMar2.AddDate(0, 0, 4)
	pxMar9  = pxMar2.AddDate(0, 0, 7)
	pxMar30 = pxMar2.AddDate(0, 0, 28) // its week runs into April
)

// setTime moves the scenario clock to ts.
func (w *pxWorld) setTime(ts time.Time) {
	now := w.h.clock.Now()
	if ts.Before(now) {
		w.h.t.Fatalf("clock at %s, cannot go back to %s", now, ts)
	}
	w.h.clock.Advance(ts.Sub(now))
}

// trade records one trade at the clock's time with varied, irregular terms.
func (w *pxWorld) trade(sector, currency, seller string, tokens int64) *pxTrade {
	w.h.t.Helper()
	k := w.k
	w.k++
	x := &pxTrade{id: fmt.Sprintf("px%02d", k), exchange: []string{exchange, exchange2}[(k/2)%2],
		seller: seller, buyer: []string{consumer, foreign, buyer2}[k%3], sector: sector, currency: currency, tokens: tokens,
		// prices spread geometrically (6% apart) and shuffled, so no two
		// are within 1% of each other
		price: round2(8 * math.Pow(1.06, float64((k*29)%53)))}
	batch := "px-" + sector + "-" + seller
	req := contract.TradeRequest{TradeID: x.id, BatchID: batch, Seller: x.seller, Buyer: x.buyer, Tokens: x.tokens,
		Rights: "licence", Purposes: []string{"model-training"}}
	tm := contract.Terms{UnitPrice: x.price, Currency: currency, PriceUnit: "1M tokens"}
	res := w.h.write(x.exchange, contract.FnTrade, req, map[string]any{contract.TransientTerms: tm})
	at, err := time.Parse(time.RFC3339Nano, res.Event.Timestamp)
	if err != nil {
		w.h.t.Fatal(err)
	}
	x.at = at
	w.trades = append(w.trades, x)
	return x
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// day records n trades on day (from 10:00), alternating the sellers unless
// oneSeller; dominant makes the first trade 10,000 times the others' volume.
func (w *pxWorld) day(day time.Time, sector, currency string, n int, oneSeller, dominant bool) {
	w.setTime(day.Add(10 * time.Hour))
	for i := 0; i < n; i++ {
		seller := []string{provider, provider2}[w.k%2]
		if oneSeller {
			seller = provider
		}
		tokens := int64(5_000 + (w.k*7919)%40_000)
		if dominant {
			tokens = 1_000
			if i == 0 {
				tokens = 10_000_000
			}
		}
		w.trade(sector, currency, seller, tokens)
	}
}

// pxSetup registers the scenario's participants and batches and records 48
// trades over March and early April 2026.
func pxSetup(t *testing.T, h *harness) *pxWorld {
	h.setup()
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: exchange2, Name: "Exchange Two", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: newcomer, Name: "Newcomer", Roles: []string{"consumer"}, Region: "CN"},
		{MSPID: buyer2, Name: "Buyer Two", Roles: []string{"consumer"}, Region: "CN"},
	} {
		h.write(regulator, contract.FnRegisterParticipant, p, nil)
	}
	for _, seller := range []string{provider, provider2} {
		for _, sector := range []string{"healthcare", "finance"} {
			req := h.batchReq("px-" + sector + "-" + seller)
			req.Sector = sector
			req.Tokens.Count = 100_000_000
			h.write(seller, contract.FnCollect, req, nil)
			h.assess(req.ID, 80)
		}
	}
	w := &pxWorld{h: h}
	w.day(pxMar2, "healthcare", "CNY", 5, false, false)
	w.day(pxMar2.Add(time.Hour), "finance", "USD", 3, false, false)
	w.day(pxMar3, "healthcare", "CNY", 1, false, false)
	return w
}

// pxRest records the rest of the trades after the over-time attack.
func (w *pxWorld) pxRest() {
	w.day(pxMar5, "healthcare", "CNY", 3, true, false)
	w.day(pxMar6, "healthcare", "CNY", 3, false, true)
	for d := 0; d < 5; d++ {
		w.day(pxMar9.AddDate(0, 0, d), "healthcare", "CNY", 4, false, false)
	}
	for d, n := range []int{3, 1, 3, 2} {
		w.day(pxMar30.AddDate(0, 0, d), "healthcare", "CNY", n, false, false)
	}
}

// pxCell is a published cell as an attacker reconstructs it: the trades it
// holds (an attacker is assumed to know each trade's time, sector and
// currency, the worst case) and its numbers.
type pxCell struct {
	key     string
	members []*pxTrade
	stats   contract.PriceStats
}

// members returns the scenario's trades in a bucket.
func (w *pxWorld) members(b contract.PriceBucket) []*pxTrade {
	start, _ := time.Parse(time.RFC3339, b.Start)
	end, _ := time.Parse(time.RFC3339, b.End)
	var out []*pxTrade
	for _, x := range w.trades {
		if x.sector == b.Sector && x.currency == b.Currency && !x.at.Before(start) && x.at.Before(end) {
			out = append(out, x)
		}
	}
	return out
}

// gather asks the index every question an attacker may ask — every
// interval, every filter and whole-period bounds — and keeps the published
// cells. It checks on the way that nothing is aggregated across cells and
// that a suppressed cell carries no numbers.
func (w *pxWorld) gather(org string) map[string]pxCell {
	h := w.h
	h.t.Helper()
	cells := map[string]pxCell{}
	filters := []contract.PricesRequest{{}, {Sector: "healthcare"}, {Sector: "finance"}, {Modality: "text"},
		{Currency: "CNY"}, {Currency: "USD"}, {Sector: "healthcare", Currency: "USD"}}
	for _, interval := range []string{"day", "week", "month"} {
		reqs := append([]contract.PricesRequest(nil), filters...)
		reqs = append(reqs, contract.PricesRequest{From: pxMar2.Format(time.RFC3339), To: pxMar30.AddDate(0, 0, 7).Format(time.RFC3339)})
		if interval == "month" {
			reqs[len(reqs)-1] = contract.PricesRequest{From: "2026-03-01T00:00:00Z", To: "2026-05-01T00:00:00Z"}
		}
		for _, req := range reqs {
			req.Interval = interval
			var px contract.Prices
			h.mustQuery(org, contract.FnPrices, req, &px)
			for _, b := range px.Buckets {
				if (req.Sector != "" && b.Sector != req.Sector) || (req.Currency != "" && b.Currency != req.Currency) {
					h.t.Fatalf("%s: a cell outside the filter %+v: %+v", org, req, b)
				}
				if b.Suppressed != (b.PriceStats == nil) {
					h.t.Fatalf("%s: cell %+v: suppressed cells carry no numbers, shown cells do", org, b)
				}
				m := w.members(b)
				if b.PriceStats == nil {
					continue
				}
				if int(b.Trades) != len(m) {
					h.t.Fatalf("%s: cell %s %s has %d trades, the scenario %d", org, b.Start, b.Sector, b.Trades, len(m))
				}
				key := interval + "|" + b.Start + "|" + b.Sector + "|" + b.Modality + "|" + b.Currency
				if prev, ok := cells[key]; ok && prev.stats.VWAP != b.VWAP {
					h.t.Fatalf("%s: cell %s differs between two questions", org, key)
				}
				cells[key] = pxCell{key: key, members: m, stats: *b.PriceStats}
			}
		}
	}
	return cells
}

// recovery is one price an attack claims, with the truth.
type recovery struct {
	how   string
	trade *pxTrade
	got   float64
}

func (r recovery) String() string {
	return fmt.Sprintf("%s: %s at %.4f (true %.2f)", r.how, r.trade.id, r.got, r.trade.price)
}

// hits keeps the claims within 1% of a price the attacker did not know.
func hits(org string, claims []recovery) []recovery {
	var out []recovery
	for _, c := range claims {
		if !c.trade.partyTo(org) && math.Abs(c.got-c.trade.price) <= 0.01*c.trade.price {
			out = append(out, c)
		}
	}
	return out
}

// equations is a linear system over the prices an attacker does not know:
// every published number that is a linear function of prices is one row.
type equations struct {
	org  string
	vars map[*pxTrade]int
	list []*pxTrade
	rows [][]*big.Rat // coefficients, then the right-hand side
}

func newEquations(org string, trades []*pxTrade) *equations {
	e := &equations{org: org, vars: map[*pxTrade]int{}}
	for _, x := range trades {
		if !x.partyTo(org) {
			e.vars[x] = len(e.list)
			e.list = append(e.list, x)
		}
	}
	return e
}

// add adds Σ coef[x]·price(x) = rhs, moving the prices the attacker knows
// to the right.
func (e *equations) add(coef map[*pxTrade]float64, rhs float64) {
	row := make([]*big.Rat, len(e.list)+1)
	for i := range row {
		row[i] = new(big.Rat)
	}
	r := new(big.Rat).SetFloat64(rhs)
	for x, c := range coef {
		if i, ok := e.vars[x]; ok {
			row[i].Add(row[i], new(big.Rat).SetFloat64(c))
		} else {
			r.Sub(r, new(big.Rat).SetFloat64(c*x.price))
		}
	}
	row[len(e.list)] = r
	e.rows = append(e.rows, row)
}

// addCells adds each cell's value (vwap × tokens = Σ price × tokens) and,
// where published, its median and IQR as band sums, the attacker being
// given each band's members (the worst case).
func (e *equations) addCells(cells map[string]pxCell) {
	keys := make([]string, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := cells[k]
		coef := map[*pxTrade]float64{}
		for _, x := range c.members {
			coef[x] = float64(x.tokens)
		}
		e.add(coef, c.stats.VWAP*float64(c.stats.Tokens))
		if c.stats.Median == nil {
			continue
		}
		bands := pxBands(c.members)
		wd := float64(len(bands[0]))
		med := map[*pxTrade]float64{}
		for _, x := range bands[1] {
			med[x] = 1
		}
		e.add(med, *c.stats.Median*wd)
		iqr := map[*pxTrade]float64{}
		for _, x := range bands[2] {
			iqr[x] = 1
		}
		for _, x := range bands[0] {
			iqr[x] = -1
		}
		e.add(iqr, *c.stats.IQR*wd)
	}
}

// pxBands returns the members of a cell's three quantile bands, as the
// index forms them.
func pxBands(m []*pxTrade) [3][]*pxTrade {
	sorted := append([]*pxTrade(nil), m...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].price < sorted[j].price })
	n := len(sorted)
	w := 2 * (n / 10)
	var out [3][]*pxTrade
	for b, q := range []float64{0.25, 0.5, 0.75} {
		lo := int(math.Floor(q*float64(n-1) - float64(w-1)/2 + 0.5))
		out[b] = sorted[lo : lo+w]
	}
	return out
}

// solve reduces the system and returns every price it determines: a price
// is determined exactly when its unit vector is a row of the reduced form.
func (e *equations) solve(how string) []recovery {
	n := len(e.list)
	rows := e.rows
	r := 0
	for col := 0; col < n && r < len(rows); col++ {
		p := -1
		for i := r; i < len(rows); i++ {
			if rows[i][col].Sign() != 0 {
				p = i
				break
			}
		}
		if p < 0 {
			continue
		}
		rows[r], rows[p] = rows[p], rows[r]
		inv := new(big.Rat).Inv(rows[r][col])
		for j := range rows[r] {
			rows[r][j].Mul(rows[r][j], inv)
		}
		for i := range rows {
			if i == r || rows[i][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(rows[i][col])
			for j := range rows[i] {
				rows[i][j].Sub(rows[i][j], new(big.Rat).Mul(f, rows[r][j]))
			}
		}
		r++
	}
	var out []recovery
	for _, row := range rows[:r] {
		idx, nz := -1, 0
		for j := 0; j < n; j++ {
			if row[j].Sign() != 0 {
				idx = j
				nz++
			}
		}
		if nz == 1 {
			v, _ := new(big.Rat).Quo(row[n], row[idx]).Float64()
			out = append(out, recovery{how: how, trade: e.list[idx], got: v})
		}
	}
	return out
}

// dominance estimates each unknown trade of a cell as if it made the whole
// of the cell's value that the attacker does not know.
func dominance(org string, cells map[string]pxCell) []recovery {
	var out []recovery
	for _, c := range cells {
		rest := c.stats.VWAP * float64(c.stats.Tokens)
		for _, x := range c.members {
			if x.partyTo(org) {
				rest -= x.price * float64(x.tokens)
			}
		}
		for _, x := range c.members {
			if !x.partyTo(org) {
				out = append(out, recovery{how: "dominance in " + c.key, trade: x, got: rest / float64(x.tokens)})
			}
		}
	}
	return out
}

// medianClaims takes a published median for the price of the trade of
// middle rank (exactly so with a classic median of an odd count).
func medianClaims(cells map[string]pxCell) []recovery {
	var out []recovery
	for _, c := range cells {
		if c.stats.Median == nil {
			continue
		}
		sorted := append([]*pxTrade(nil), c.members...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].price < sorted[j].price })
		for _, x := range sorted[(len(sorted)-1)/2 : len(sorted)/2+1] {
			out = append(out, recovery{how: "median of " + c.key, trade: x, got: *c.stats.Median})
		}
	}
	return out
}

// attack runs every attack on what org is shown and returns the hits.
func (w *pxWorld) attack(org string, cells map[string]pxCell) []recovery {
	e := newEquations(org, w.trades)
	e.addCells(cells)
	claims := e.solve("differencing")
	claims = append(claims, dominance(org, cells)...)
	claims = append(claims, medianClaims(cells)...)
	return hits(org, claims)
}

// bisect is the windows attack: split a window until it holds one trade,
// whose price is then the window's VWAP. Only the regulator may still ask
// for windows; for anyone else the first question is refused.
func (w *pxWorld) bisect(org string, from, to time.Time, depth int) ([]recovery, error) {
	var px contract.Prices
	err := w.h.query(org, contract.FnPrices, contract.PricesRequest{Interval: "window",
		From: from.Format(time.RFC3339Nano), To: to.Format(time.RFC3339Nano)}, &px)
	if err != nil {
		return nil, err
	}
	var out []recovery
	for _, b := range px.Buckets {
		if b.PriceStats == nil {
			continue
		}
		if b.Trades == 1 {
			for _, x := range w.members(contract.PriceBucket{Sector: b.Sector, Currency: b.Currency,
				Start: from.Format(time.RFC3339Nano), End: to.Format(time.RFC3339Nano)}) {
				out = append(out, recovery{how: "windows", trade: x, got: b.VWAP})
			}
			continue
		}
		if depth == 0 {
			continue
		}
		mid := from.Add(to.Sub(from) / 2)
		for _, half := range [][2]time.Time{{from, mid}, {mid, to}} {
			got, err := w.bisect(org, half[0], half[1], depth-1)
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
		}
		break // both halves cover every cell of the window
	}
	return out, nil
}

// readCell returns the cell of a sector and day as org is shown it, or nil.
func (w *pxWorld) readCell(org string, day time.Time, sector string) *contract.PriceBucket {
	var px contract.Prices
	w.h.mustQuery(org, contract.FnPrices, contract.PricesRequest{Sector: sector}, &px)
	for _, b := range px.Buckets {
		if b.Start == day.Format(time.RFC3339) {
			return &b
		}
	}
	return nil
}

func pricePrivacyScenario(t *testing.T, h *harness) {
	w := pxSetup(t, h)
	attackers := []string{newcomer, auditor, consumer, provider, exchange2}

	// Over time: read the day's cell, let one trade land, read it again.
	w.day(pxMar4, "healthcare", "CNY", 3, false, false)
	before := map[string]*contract.PriceBucket{}
	for _, org := range append(attackers, regulator) {
		before[org] = w.readCell(org, pxMar4, "healthcare")
	}
	landed := w.trade("healthcare", "CNY", provider2, 7_000)
	for _, org := range append(attackers, regulator) {
		after := w.readCell(org, pxMar4, "healthcare")
		if org == regulator {
			// What the open day shows the regulator gives the new price away.
			if before[org] == nil || after == nil {
				t.Fatalf("the regulator does not see the open day")
			}
			got := (after.VWAP*float64(after.Tokens) - before[org].VWAP*float64(before[org].Tokens)) / float64(landed.tokens)
			if h := hits(newcomer, []recovery{{how: "over time", trade: landed, got: got}}); len(h) != 1 {
				t.Fatalf("differencing over time on the unrestricted view failed (%.4f for %.2f): the attack is broken", got, landed.price)
			}
			continue
		}
		if before[org] != nil || after != nil {
			t.Fatalf("%s sees the open day: %+v then %+v", org, before[org], after)
		}
	}
	// A closed cell does not change once read.
	w.setTime(pxMar5.Add(time.Hour))
	closed := w.readCell(newcomer, pxMar4, "healthcare")
	if closed == nil || closed.PriceStats == nil {
		t.Fatalf("the closed day is not shown to a participant of none of its trades: %+v", closed)
	}
	w.pxRest()
	if again := w.readCell(newcomer, pxMar4, "healthcare"); again == nil || again.PriceStats == nil || *again.PriceStats != *closed.PriceStats {
		t.Fatalf("a closed cell changed: %+v, then %+v", closed.PriceStats, again)
	}
	w.setTime(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))

	// Windows and sub-period bounds are the regulator's only.
	for _, org := range attackers {
		if _, err := w.bisect(org, pxMar2, pxMar9, 40); err == nil {
			t.Fatalf("%s may ask for windows", org)
		} else {
			h.wantErr(err, contract.KindForbidden, contract.RuleRole)
		}
		var px contract.Prices
		err := h.query(org, contract.FnPrices, contract.PricesRequest{Interval: "day", From: pxMar2.Add(10 * time.Hour).Format(time.RFC3339), To: pxMar3.Format(time.RFC3339)}, &px)
		if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "from" {
			t.Fatalf("sub-day bound: %+v", ce)
		}
		err = h.query(org, contract.FnPrices, contract.PricesRequest{Interval: "week", From: pxMar2.Format(time.RFC3339), To: pxMar4.Format(time.RFC3339)}, &px)
		if ce := h.wantErr(err, contract.KindInvalid, ""); ce.Field != "to" {
			t.Fatalf("mid-week bound: %+v", ce)
		}
	}
	// The windows attack works on the regulator's view: every price.
	got, err := w.bisect(regulator, pxMar2, pxMar30.AddDate(0, 0, 7), 40)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hits(newcomer, got)); n != len(unknownTrades(w.trades, newcomer)) {
		t.Fatalf("the windows attack recovered %d of %d prices from the unrestricted view: the attack is broken", n, len(w.trades))
	}

	// Every attacker, everything it is shown, every attack: nothing.
	shown := 0
	medians := 0
	for _, org := range attackers {
		cells := w.gather(org)
		shown += len(cells)
		for _, c := range cells {
			if c.stats.Median != nil {
				medians++
			}
		}
		if h := w.attack(org, cells); len(h) > 0 {
			t.Errorf("%s recovered %d prices it was not party to, e.g. %v", org, len(h), h[0])
		}
	}
	if shown == 0 || medians == 0 {
		t.Fatalf("the attackers were shown %d cells and %d medians: the attacks tested nothing", shown, medians)
	}
	// The same attacks on unrestricted publishing: the regulator's cells
	// given to a participant of no trade recover the lone trade of March 3
	// (by subtracting the days from their week), the dominant trade of
	// March 6 (dominance) and all of a small cell's prices from classic
	// quartiles.
	reg := w.gather(regulator)
	hs := w.attack(newcomer, reg)
	want := map[string]bool{}
	for _, x := range w.trades {
		if x.at.Before(pxMar3) || !x.at.Before(pxMar4) {
			continue
		}
		want[x.id] = true
	}
	for _, x := range w.trades {
		if !x.at.Before(pxMar6) && x.at.Before(pxMar6.AddDate(0, 0, 1)) && x.tokens == 10_000_000 {
			want[x.id] = true
		}
	}
	for _, r := range hs {
		delete(want, r.trade.id)
	}
	if len(want) > 0 {
		t.Fatalf("attacks on the unrestricted view missed %v (got %v): the attacks are broken", want, hs)
	}
	// Classic quantiles (linear interpolation) of a 3-trade cell and its
	// total pin every price; the index's banded quantiles are not published
	// for it at all.
	var small []*pxTrade
	for _, x := range w.trades {
		if !x.at.Before(pxMar5) && x.at.Before(pxMar6) {
			small = append(small, x)
		}
	}
	e := newEquations(newcomer, small)
	sorted := append([]*pxTrade(nil), small...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].price < sorted[j].price })
	for _, q := range []float64{0.25, 0.5, 0.75} {
		pos := q * float64(len(sorted)-1)
		lo := int(pos)
		frac := pos - float64(lo)
		coef := map[*pxTrade]float64{sorted[lo]: 1 - frac}
		v := (1 - frac) * sorted[lo].price
		if frac > 0 {
			coef[sorted[lo+1]] += frac
			v += frac * sorted[lo+1].price
		}
		e.add(coef, v)
	}
	if n := len(hits(newcomer, e.solve("classic quartiles"))); n != 3 {
		t.Fatalf("classic quartiles of 3 trades gave %d prices: the attack is broken", n)
	}

	// Coverage: the share of cells each reader is shown (the threat model
	// quotes these figures).
	for _, org := range append([]string{regulator}, attackers...) {
		line := org + ":"
		for _, interval := range []string{"day", "week", "month"} {
			var px contract.Prices
			h.mustQuery(org, contract.FnPrices, contract.PricesRequest{Interval: interval}, &px)
			shown, medians := 0, 0
			for _, b := range px.Buckets {
				if b.PriceStats != nil {
					shown++
					if b.Median != nil {
						medians++
					}
				}
			}
			line += fmt.Sprintf(" %s %d/%d shown (%d with median);", interval, shown, len(px.Buckets), medians)
		}
		t.Log(line)
	}
}

func unknownTrades(all []*pxTrade, org string) []*pxTrade {
	var out []*pxTrade
	for _, x := range all {
		if !x.partyTo(org) {
			out = append(out, x)
		}
	}
	return out
}
