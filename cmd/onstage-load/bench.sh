#!/usr/bin/env bash
# The benchmark behind `make bench`: builds onstage and onstage-load, starts a fresh onstage
# node on a free port with a temporary data directory, runs livestream 1→50 (against onstage
# and a bare Pion forwarder, for the cost ratio) and meeting 4×4, prints the tables, and
# stops the node.
#
#   BENCH_DURATION  measurement window per run (default 15s)
#   BENCH_OUT       directory for the JSON results (default: a temporary directory)
#   BENCH_SMOKE=1   only a 10-second livestream 1→3 run (what CI runs); fails when no media arrives
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
duration=${BENCH_DURATION:-15s}
work=$(mktemp -d)
out=${BENCH_OUT:-$work/results}
mkdir -p "$out"
server_pid=""

cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work/data" "$work/bin"
}
trap cleanup EXIT

echo "building…" >&2
mkdir -p "$work/bin" "$work/data"
$GO build -o "$work/bin/onstage" ./cmd/onstage
$GO build -o "$work/bin/onstage-load" ./cmd/onstage-load
load="$work/bin/onstage-load"

port=$("$load" free-port)
url="http://127.0.0.1:$port"
ONSTAGE_HTTP_ADDR="127.0.0.1:$port" ONSTAGE_DATA_DIR="$work/data" \
	"$work/bin/onstage" serve >"$work/server.log" 2>&1 &
server_pid=$!
if ! "$load" wait --url "$url" --timeout 60s; then
	echo "onstage did not start; its log:" >&2
	cat "$work/server.log" >&2
	exit 1
fi
echo "onstage pid $server_pid at $url; results in $out" >&2

status=0
if [ "${BENCH_SMOKE:-}" = 1 ]; then
	"$load" livestream --url "$url" --server-pid "$server_pid" --subscribers 3 \
		--duration 10s --json "$out/smoke.json" || status=1
	[ "$status" -eq 0 ] || tail -n 50 "$work/server.log" >&2
	exit "$status"
fi
"$load" livestream --url "$url" --server-pid "$server_pid" --subscribers 50 \
	--duration "$duration" --baseline --json "$out/livestream-50.json" || status=1
"$load" meeting --url "$url" --server-pid "$server_pid" --participants 4 --meetings 4 \
	--duration "$duration" --json "$out/meeting-4x4.json" || status=1

if [ "$status" -ne 0 ]; then
	echo "--- onstage log (last 50 lines) ---" >&2
	tail -n 50 "$work/server.log" >&2
fi
exit "$status"
