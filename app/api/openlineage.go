package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokentrail/tokentrail/app/openlineage"
)

// runEventNotRecorded answers a RunEvent whose run state records nothing.
type runEventNotRecorded struct {
	Recorded  bool   `json:"recorded"`
	EventType string `json:"eventType"`
	Detail    string `json:"detail"`
}

// recordOpenLineage is POST /api/v1/openlineage: a pipeline's OpenLineage
// RunEvent. A COMPLETE run is recorded as a PROCESSED event submitted by the
// caller and answered like POST /api/v1/processing (201); other run states
// are answered 200 with recorded false (docs/openlineage.md).
func (s *Server) recordOpenLineage(c echo.Context) error {
	if _, err := newQuery(c); err != nil {
		return err
	}
	var ev openlineage.RunEvent
	if err := decodeJSON(c, &ev, false); err != nil {
		return err
	}
	res, err := s.svc.RecordRunEvent(c.Request().Context(), identityOf(c).MSPID, ev)
	if err != nil {
		return err
	}
	if !res.Recorded {
		return c.JSON(http.StatusOK, runEventNotRecorded{EventType: ev.EventType, Detail: res.Detail})
	}
	return writeResponse(c, http.StatusCreated, res.Written)
}
