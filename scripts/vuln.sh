#!/usr/bin/env bash
# vuln.sh: govulncheck over every package of the module, against a Go
# vulnerability database built locally from the golang.org/x/vulndb module
# (served by the Go module proxy), so it works where vuln.go.dev cannot be
# reached. Both versions are pinned here; bump them together with a review
# of what the new database reports (docs/operations.md, "Vulnerabilities").
#
# The database is built once per vulndb version under .cache/vulndb
# (gitignored). Findings are read as JSON: any vulnerability the code
# reaches fails the run, except the advisories listed in ACCEPTED below,
# each with the reason it does not apply; they are still printed.
set -euo pipefail

GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.10.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

# Advisories reached by module only (no fixed version, no symbols named),
# judged not to apply. Keep the reason next to each.
ACCEPTED=(
  # echo v4's reverse-proxy middleware forwards X-Real-IP; tokentrail uses
  # no echo middleware (its own in app/api) and no proxy. Fixed only in v5.
  GO-2026-6875
  # echo v4's rate-limiter middleware keys on a spoofable X-Forwarded-For;
  # tokentrail rate-limits per API key with its own limiter and reads the
  # peer address directly (echo.ExtractIPDirect). Fixed only in v5.
  GO-2026-6872
)

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache="$root/.cache"
bin="$cache/bin"
db="$cache/vulndb/$VULNDB_VERSION"
mkdir -p "$bin"

if [[ ! -x "$bin/govulncheck-$GOVULNCHECK_VERSION" ]]; then
  echo "vuln: building govulncheck $GOVULNCHECK_VERSION"
  GOBIN="$bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
  mv "$bin/govulncheck" "$bin/govulncheck-$GOVULNCHECK_VERSION"
fi

if [[ ! -f "$db/index/db.json" ]]; then
  echo "vuln: building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$src/data/osv" ]] || { echo "vuln: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
  rm -rf "$db.tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi

# The standard library is judged at the toolchain go.mod names (its
# toolchain line): the one release builds use. A local Go older than that
# builds binaries with the older standard library; say so.
toolchain=$(sed -n 's/^toolchain //p' go.mod)
if [[ -n "$toolchain" ]]; then
  local_go=$(GOTOOLCHAIN=local go env GOVERSION)
  if [[ "$(printf '%s\n%s\n' "${local_go#go}" "${toolchain#go}" | sort -V | head -1)" != "${toolchain#go}" ]]; then
    echo "vuln: note: the local Go is $local_go; go.mod's toolchain is $toolchain: build releases with GOTOOLCHAIN=auto (the default) or $toolchain"
  fi
  export GOTOOLCHAIN=$toolchain
fi
echo "vuln: $(go env GOVERSION), database golang.org/x/vulndb@$VULNDB_VERSION"
out="$cache/govulncheck.json"
status=0
"$bin/govulncheck-$GOVULNCHECK_VERSION" -db "file://$db" -format json ./... >"$out" || status=$?
if [[ $status -ne 0 ]]; then
  echo "vuln: govulncheck failed ($status)" >&2
  exit "$status"
fi
# In JSON mode govulncheck exits 0 whatever it finds: findings whose trace
# reaches a function of this module (or, for module-level advisories, any
# call) are the reachable ones. The text report is printed for people.
go run ./scripts/vulnfindings "$out" "${ACCEPTED[@]}"
