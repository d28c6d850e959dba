package contract

// Temporary: handlers not written yet. Each is replaced as it is implemented.

func pendingFn(t *txn, args []byte) (any, error) {
	return nil, invalid("function", "not implemented yet")
}

var (
	bootstrap           = pendingFn
	registerParticipant = pendingFn
	suspendParticipant  = pendingFn
	collect             = pendingFn
	process             = pendingFn
	assess              = pendingFn
	circulate           = pendingFn
	recordTrade         = pendingFn
	recordTrades        = pendingFn
	audit               = pendingFn
	freeze              = pendingFn
	unfreeze            = pendingFn
	retire              = pendingFn
	getParticipant      = pendingFn
	listParticipants    = pendingFn
	getBatch            = pendingFn
	listBatches         = pendingFn
	history             = pendingFn
	lineage             = pendingFn
	impact              = pendingFn
	compliance          = pendingFn
	listTrades          = pendingFn
	prices              = pendingFn
	getEvent            = pendingFn
)
