#!/usr/bin/env bash
# Smoke test of the running local network (CI calls this after
# scripts/network.sh up): deploys the one-key chaincode as "onekey" if absent,
# submits a Put endorsed by two organisations and waits for its commit, reads
# it back on a third organisation's peer, and checks that a single
# organisation's endorsement is rejected.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/network.sh" smoke "$@"
