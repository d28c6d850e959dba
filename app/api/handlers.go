package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/service"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Request bodies that differ from the contract's request types: the batch or
// participant comes from the path, and trades carry their private terms.

type reasonBody struct {
	Reason string `json:"reason"`
}

type assessBody struct {
	Score   *float64           `json:"score"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Method  string             `json:"method"`
}

type circulateBody struct {
	To          string                `json:"to"`
	Purpose     string                `json:"purpose"`
	AccessMode  string                `json:"accessMode"`
	CrossBorder *contract.CrossBorder `json:"crossBorder,omitempty"`
	ExpiresAt   string                `json:"expiresAt,omitempty"`
}

type auditBody struct {
	Scope    string             `json:"scope"`
	Findings []contract.Finding `json:"findings"`
	Verdict  string             `json:"verdict"`
}

type tradeBody struct {
	contract.TradeRequest
	Terms *contract.Terms `json:"terms"`
}

type bulkBody struct {
	Trades []tradeBody `json:"trades"`
}

// writeResponse shapes the answer to a write (api.md): participants are
// answered as themselves, everything else as {batch|batches, event, receipt}.
// An exact replay answers 200 instead of 201.
func writeResponse(c echo.Context, created int, w *service.Written) error {
	status := created
	if w.Replayed {
		status = http.StatusOK
	}
	if len(w.Receipt) == 0 {
		return c.JSON(status, w)
	}
	// The receipt is already compact JSON from the ledger (a Fabric receipt
	// carries the whole block, tens of kilobytes): it is spliced in as it
	// is rather than validated and re-compacted by json.Marshal, and
	// written as it is rather than copied into one answer.
	rest := *w
	rest.Receipt = nil
	b, err := json.Marshal(&rest)
	if err != nil {
		return err
	}
	head := make([]byte, 0, len(b)+len(`,"receipt":`))
	head = append(head, b[:len(b)-1]...)
	if len(b) > 2 {
		head = append(head, ',')
	}
	head = append(head, `"receipt":`...)
	const tail = "}\n"
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set(echo.HeaderContentLength, strconv.Itoa(len(head)+w.Receipt.Len()+len(tail)))
	res.WriteHeader(status)
	if _, err := res.Write(head); err != nil {
		return err
	}
	if _, err := w.Receipt.WriteTo(res); err != nil {
		return err
	}
	_, err = res.Write([]byte(tail))
	return err
}

func (s *Server) registerParticipant(c echo.Context) error {
	var req contract.RegisterParticipantRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	w, err := s.svc.RegisterParticipant(c.Request().Context(), identityOf(c).MSPID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w.Participant)
}

func (s *Server) suspendParticipant(c echo.Context) error {
	msp, err := pathMSPID(c, "mspId")
	if err != nil {
		return err
	}
	var body reasonBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	w, err := s.svc.SuspendParticipant(c.Request().Context(), identityOf(c).MSPID,
		contract.SuspendParticipantRequest{MSPID: msp, Reason: body.Reason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, w.Participant)
}

func (s *Server) collect(c echo.Context) error {
	var req contract.CollectRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	w, err := s.svc.Collect(c.Request().Context(), identityOf(c).MSPID, req)
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

func (s *Server) process(c echo.Context) error {
	var req contract.ProcessRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	w, err := s.svc.Process(c.Request().Context(), identityOf(c).MSPID, req)
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

func (s *Server) assess(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var b assessBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	w, err := s.svc.Assess(c.Request().Context(), identityOf(c).MSPID,
		contract.AssessRequest{BatchID: id, Score: b.Score, Metrics: b.Metrics, Method: b.Method})
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

func (s *Server) circulate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var b circulateBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	w, err := s.svc.Circulate(c.Request().Context(), identityOf(c).MSPID, contract.CirculateRequest{
		BatchID: id, To: b.To, Purpose: b.Purpose, AccessMode: b.AccessMode, CrossBorder: b.CrossBorder, ExpiresAt: b.ExpiresAt})
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

func (s *Server) trade(c echo.Context) error {
	var b tradeBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	if b.Terms == nil {
		return badRequest("terms", "required: {unitPrice, currency, priceUnit, settlementRef}")
	}
	w, err := s.svc.Trade(c.Request().Context(), identityOf(c).MSPID, b.TradeRequest, *b.Terms)
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

func (s *Server) tradeBulk(c echo.Context) error {
	var b bulkBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	if len(b.Trades) == 0 {
		return badRequest("trades", "required: an array of 1 to %d trades", service.MaxBulkTrades)
	}
	if len(b.Trades) > service.MaxBulkTrades {
		return badRequest("trades", "at most %d trades per request; split the submission", service.MaxBulkTrades)
	}
	trades := make([]contract.TradeRequest, len(b.Trades))
	terms := make([]contract.Terms, len(b.Trades))
	for i, t := range b.Trades {
		if t.Terms == nil {
			return badRequest("trades["+strconv.Itoa(i)+"].terms", "required: {unitPrice, currency, priceUnit, settlementRef}")
		}
		trades[i], terms[i] = t.TradeRequest, *t.Terms
	}
	res, err := s.svc.TradeBulk(c.Request().Context(), identityOf(c).MSPID, trades, terms)
	if err != nil {
		return err
	}
	if s.metrics != nil {
		for _, r := range res.Results {
			if r.Status != contract.BulkCommitted && r.Status != contract.BulkReplayed {
				s.metrics.bulkRejected.Inc()
			}
		}
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) audit(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var b auditBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	w, err := s.svc.Audit(c.Request().Context(), identityOf(c).MSPID,
		contract.AuditRequest{BatchID: id, Scope: b.Scope, Findings: b.Findings, Verdict: b.Verdict})
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusCreated, w)
}

// statusChange is the shape of freeze, unfreeze and retire.
func (s *Server) statusChange(c echo.Context, run func(*Server, echo.Context, contract.StatusRequest) (*service.Written, error)) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var b reasonBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	w, err := run(s, c, contract.StatusRequest{BatchID: id, Reason: b.Reason})
	if err != nil {
		return err
	}
	return writeResponse(c, http.StatusOK, w)
}

func (s *Server) freeze(c echo.Context) error {
	return s.statusChange(c, func(s *Server, c echo.Context, r contract.StatusRequest) (*service.Written, error) {
		return s.svc.Freeze(c.Request().Context(), identityOf(c).MSPID, r)
	})
}

func (s *Server) unfreeze(c echo.Context) error {
	return s.statusChange(c, func(s *Server, c echo.Context, r contract.StatusRequest) (*service.Written, error) {
		return s.svc.Unfreeze(c.Request().Context(), identityOf(c).MSPID, r)
	})
}

func (s *Server) retire(c echo.Context) error {
	return s.statusChange(c, func(s *Server, c echo.Context, r contract.StatusRequest) (*service.Written, error) {
		return s.svc.Retire(c.Request().Context(), identityOf(c).MSPID, r)
	})
}

// Reads.

// passThrough runs a query and answers the contract's JSON unchanged.
func (s *Server) passThrough(c echo.Context, fn string, req any) error {
	b, err := s.svc.Query(c.Request().Context(), identityOf(c).MSPID, fn, req)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

func (s *Server) listParticipants(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	// The consortium is small: the contract answers it as one page.
	return s.passThrough(c, contract.FnListParticipants, struct{}{})
}

// whoami is GET /api/v1/whoami: the participant record of the key's
// organisation. It is the registry's own answer for that organisation, so a
// suspended participant is refused 403 like every other read (api.md).
func (s *Server) whoami(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	return s.passThrough(c, contract.FnGetParticipant, contract.IDRequest{ID: identityOf(c).MSPID})
}

func (s *Server) getParticipant(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	msp, err := pathMSPID(c, "mspId")
	if err != nil {
		return err
	}
	return s.passThrough(c, contract.FnGetParticipant, contract.IDRequest{ID: msp})
}

var (
	sectors    = []string{"healthcare", "agriculture", "industry", "education", "finance", "transport", "government", "services", "science", "other"}
	modalities = []string{"text", "image", "audio", "video", "tabular", "code", "multimodal"}
)

func (s *Server) listBatches(c echo.Context) error {
	q, err := newQuery(c, "sector", "modality", "owner", "status", "pageSize", "pageToken")
	if err != nil {
		return err
	}
	var req contract.ListBatchesRequest
	if req.Sector, err = q.enum("sector", sectors...); err != nil {
		return err
	}
	if req.Modality, err = q.enum("modality", modalities...); err != nil {
		return err
	}
	if req.Owner, err = q.mspParam("owner"); err != nil {
		return err
	}
	if req.Status, err = q.enum("status", contract.StatusActive, contract.StatusFrozen, contract.StatusRetired); err != nil {
		return err
	}
	if req.PageSize, req.PageToken, err = q.page(); err != nil {
		return err
	}
	return s.passThrough(c, contract.FnListBatches, req)
}

func (s *Server) getBatch(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	return s.passThrough(c, contract.FnGetBatch, contract.IDRequest{ID: id})
}

func (s *Server) history(c echo.Context) error {
	q, err := newQuery(c, "pageSize", "pageToken")
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	req := contract.HistoryRequest{BatchID: id}
	if req.PageSize, req.PageToken, err = q.page(); err != nil {
		return err
	}
	return s.passThrough(c, contract.FnHistory, req)
}

// Lineage bounds (api.md).
const (
	defaultLineageDepth = 10
	maxLineageDepth     = 50
)

func (s *Server) lineage(c echo.Context) error {
	q, err := newQuery(c, "direction", "depth", "format")
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	req := contract.LineageRequest{BatchID: id}
	if req.Direction, err = q.enum("direction", "up", "down", "both"); err != nil {
		return err
	}
	if req.Direction == "" {
		req.Direction = "both"
	}
	if req.Depth, err = q.intIn("depth", defaultLineageDepth, 1, maxLineageDepth); err != nil {
		return err
	}
	format, err := q.enum("format", "json", "prov-json", "openlineage")
	if err != nil {
		return err
	}
	if format == "openlineage" {
		doc, err := s.svc.LineageOpenLineage(c.Request().Context(), identityOf(c).MSPID, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, doc)
	}
	if format == "prov-json" {
		doc, err := s.svc.LineagePROV(c.Request().Context(), identityOf(c).MSPID, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, doc)
	}
	return s.passThrough(c, contract.FnLineage, req)
}

func (s *Server) impact(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	return s.passThrough(c, contract.FnImpact, contract.IDRequest{ID: id})
}

func (s *Server) compliance(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	return s.passThrough(c, contract.FnCompliance, contract.IDRequest{ID: id})
}

func (s *Server) listTrades(c echo.Context) error {
	q, err := newQuery(c, "batchId", "from", "to", "pageSize", "pageToken")
	if err != nil {
		return err
	}
	var req contract.ListTradesRequest
	if req.BatchID, err = q.idParam("batchId"); err != nil {
		return err
	}
	if req.From, err = q.time("from"); err != nil {
		return err
	}
	if req.To, err = q.time("to"); err != nil {
		return err
	}
	if req.PageSize, req.PageToken, err = q.page(); err != nil {
		return err
	}
	return s.passThrough(c, contract.FnListTrades, req)
}

func (s *Server) prices(c echo.Context) error {
	q, err := newQuery(c, "sector", "modality", "currency", "from", "to", "interval")
	if err != nil {
		return err
	}
	var req contract.PricesRequest
	// The contract checks the currency against its ISO 4217 list, and the
	// bounds against the interval's periods.
	req.Currency = q.str("currency")
	if req.Sector, err = q.enum("sector", sectors...); err != nil {
		return err
	}
	if req.Modality, err = q.enum("modality", modalities...); err != nil {
		return err
	}
	if req.From, err = q.time("from"); err != nil {
		return err
	}
	if req.To, err = q.time("to"); err != nil {
		return err
	}
	if req.Interval, err = q.enum("interval", contract.IntervalDay, contract.IntervalWeek, contract.IntervalMonth, contract.IntervalWindow); err != nil {
		return err
	}
	return s.passThrough(c, contract.FnPrices, req)
}

func (s *Server) receipt(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	id, err := pathID(c, "eventId")
	if err != nil {
		return err
	}
	b, err := s.svc.Receipt(c.Request().Context(), identityOf(c).MSPID, id)
	if err != nil {
		return err
	}
	if !json.Valid(b) {
		return statusError(http.StatusInternalServerError, "the ledger returned a malformed receipt")
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

func (s *Server) ledgerInfo(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	info, err := s.svc.Info(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ledgerInfoBody{Kind: info.Kind, Height: info.Height, TrustAnchor: info.TrustAnchor})
}

type ledgerInfoBody struct {
	Kind        string `json:"kind"`
	Height      uint64 `json:"height"`
	TrustAnchor string `json:"trustAnchor"`
}
