#!/usr/bin/env bash
# cluster.sh — run a local onstage cluster on 127.0.0.1: external NATS (JetStream), Redis and
# PostgreSQL (each started only if nothing answers on its port), three onstage nodes built from
# this repository, and nginx in front of them as a round-robin load balancer for HTTP and
# WebSocket. See docs/cluster.md.
#
#   scripts/cluster.sh up       start whatever is not running yet (idempotent)
#   scripts/cluster.sh down     stop everything that `up` started, and nothing else
#   scripts/cluster.sh status   show what runs and whether each node is ready
#
# Settings (environment):
#   ONSTAGE_CLUSTER_DIR      run dir for pids, logs, data dirs, nginx config
#                            (default: ${TMPDIR:-/tmp}/onstage-cluster)
#   ONSTAGE_CLUSTER_NODES    number of nodes (default 3)
#   ONSTAGE_CLUSTER_LB_PORT  nginx port (default 8080)
#   ONSTAGE_CLUSTER_HTTP_PORT first node's HTTP port; node i uses +i-1 (default 8081)
#   ONSTAGE_CLUSTER_UDP_BASE  first node's media UDP port (all of its WebRTC traffic shares
#                            it); node i uses base+i-1 (default 40000)
#   ONSTAGE_CLUSTER_NATS_PORT (4222)  ONSTAGE_CLUSTER_REDIS_PORT (6379)
#   ONSTAGE_CLUSTER_REDIS_DB (1)      ONSTAGE_CLUSTER_PG_PORT (5432)
#   ONSTAGE_CLUSTER_PG_USER (postgres) ONSTAGE_CLUSTER_PG_DB (onstage_cluster)
#   ONSTAGE_CLUSTER_PLACEMENT (lowest|twochoice, default lowest)
#   ONSTAGE_CLUSTER_DRAIN_TIMEOUT  the nodes' cluster.drain_timeout (default: the config's, 30s)
#   Use ports of your own for NATS and Redis (e.g. 14222, 16379) to get instances that this
#   script starts and stops, rather than shared ones already running on the default ports.
#   ONSTAGE_AUTH_JWT_SECRET  shared signing secret; default: generated once into the run dir
#   PGPASSWORD               PostgreSQL password, when the server asks for one
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${ONSTAGE_CLUSTER_DIR:-${TMPDIR:-/tmp}/onstage-cluster}
NODES=${ONSTAGE_CLUSTER_NODES:-3}
LB_PORT=${ONSTAGE_CLUSTER_LB_PORT:-8080}
HTTP_PORT=${ONSTAGE_CLUSTER_HTTP_PORT:-8081}
UDP_BASE=${ONSTAGE_CLUSTER_UDP_BASE:-40000}
NATS_PORT=${ONSTAGE_CLUSTER_NATS_PORT:-4222}
REDIS_PORT=${ONSTAGE_CLUSTER_REDIS_PORT:-6379}
REDIS_DB=${ONSTAGE_CLUSTER_REDIS_DB:-1}
PG_PORT=${ONSTAGE_CLUSTER_PG_PORT:-5432}
PG_USER=${ONSTAGE_CLUSTER_PG_USER:-postgres}
PG_DB=${ONSTAGE_CLUSTER_PG_DB:-onstage_cluster}
PLACEMENT=${ONSTAGE_CLUSTER_PLACEMENT:-lowest}
DRAIN_TIMEOUT=${ONSTAGE_CLUSTER_DRAIN_TIMEOUT:-}
HOST=127.0.0.1

BIN=$RUN/bin/onstage
PIDS=$RUN/pids
LOGS=$RUN/logs

say() { printf 'cluster: %s\n' "$*"; }
die() {
	printf 'cluster: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

# listening PORT: something accepts TCP connections on $HOST:PORT.
listening() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# alive NAME: the process recorded in pids/NAME.pid runs and is still the program we started
# (its command line holds the text in pids/NAME.cmd), so a recycled pid is never touched.
alive() {
	local pidf=$PIDS/$1.pid pid want
	[[ -f $pidf ]] || return 1
	pid=$(<"$pidf")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	want=$(<"$PIDS/$1.cmd")
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"
}

# launch NAME MATCH LOG CMD...: start CMD in its own session, detached, and record its pid.
launch() {
	local name=$1 match=$2 log=$3
	shift 3
	setsid "$@" >>"$log" 2>&1 </dev/null &
	echo $! >"$PIDS/$name.pid"
	printf '%s\n' "$match" >"$PIDS/$name.cmd"
}

# wait_port PORT WHAT SECONDS LOG
wait_port() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		listening "$1" && return 0
		sleep 0.1
	done
	[[ -n ${4:-} && -f $4 ]] && tail -n 20 "$4" >&2
	die "$2 did not listen on $HOST:$1 within $3 s${4:+ (log: $4)}"
}

# need CMD PACKAGE: install the Debian package when CMD is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "$1 is missing and apt-get is not available; install $2"
	local sudo=()
	[[ $EUID -eq 0 ]] || sudo=(sudo)
	say "installing $2"
	"${sudo[@]}" apt-get install -y -qq "$2" >"$LOGS/apt-$2.log" 2>&1 ||
		{ "${sudo[@]}" apt-get update -qq >>"$LOGS/apt-$2.log" 2>&1 &&
			"${sudo[@]}" apt-get install -y -qq "$2" >>"$LOGS/apt-$2.log" 2>&1; } ||
		die "could not install $2 (log: $LOGS/apt-$2.log)"
	command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 is still not on PATH"
}

http_code() {
	curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

node_port() { echo $((HTTP_PORT + $1 - 1)); }

check_settings() {
	[[ $NODES =~ ^[1-9][0-9]?$ ]] || die "ONSTAGE_CLUSTER_NODES must be 1-99, not '$NODES'"
	local p
	for p in "$LB_PORT" "$HTTP_PORT" "$UDP_BASE" "$NATS_PORT" "$REDIS_PORT" "$PG_PORT"; do
		[[ $p =~ ^[0-9]+$ && $p -gt 0 && $p -lt 65536 ]] || die "bad port '$p'"
	done
	[[ $PG_DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "ONSTAGE_CLUSTER_PG_DB must be a plain lower-case name"
	case $PLACEMENT in lowest | twochoice) ;; *) die "ONSTAGE_CLUSTER_PLACEMENT must be lowest or twochoice" ;; esac
}

start_nats() {
	if listening "$NATS_PORT"; then
		if alive nats; then say "nats: running (started by this script)"; else say "nats: already running on $HOST:$NATS_PORT, using it"; fi
		return
	fi
	need nats-server nats-server
	mkdir -p "$RUN/nats"
	say "nats: starting nats-server -js on $HOST:$NATS_PORT"
	launch nats "nats-server -js -a $HOST -p $NATS_PORT" "$LOGS/nats.log" nats-server -js -a "$HOST" -p "$NATS_PORT" -sd "$RUN/nats"
	wait_port "$NATS_PORT" nats-server 15 "$LOGS/nats.log"
}

start_redis() {
	if listening "$REDIS_PORT"; then
		if alive redis; then say "redis: running (started by this script)"; else say "redis: already running on $HOST:$REDIS_PORT, using it"; fi
		return
	fi
	need redis-server redis-server
	mkdir -p "$RUN/redis"
	say "redis: starting redis-server on $HOST:$REDIS_PORT"
	launch redis "redis-server $HOST:$REDIS_PORT" "$LOGS/redis.log" redis-server --bind "$HOST" --port "$REDIS_PORT" \
		--dir "$RUN/redis" --save '' --appendonly no --daemonize no
	wait_port "$REDIS_PORT" redis-server 15 "$LOGS/redis.log"
}

# start_postgres starts the machine's own PostgreSQL cluster (Debian's pg_ctlcluster) when
# nothing answers on the port, and remembers that it did, so that down stops it again.
start_postgres() {
	if listening "$PG_PORT"; then
		if [[ -f $PIDS/postgres.cluster ]]; then
			say "postgres: running (started by this script)"
		else
			say "postgres: already running on $HOST:$PG_PORT, using it"
		fi
		return
	fi
	need psql postgresql-client
	if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! compgen -G '/etc/postgresql/*/main' >/dev/null; then
		need pg_ctlcluster postgresql
	fi
	local conf ver
	conf=$(compgen -G '/etc/postgresql/*/main' | sort -V | tail -n 1) ||
		die "no PostgreSQL cluster under /etc/postgresql; create one (pg_createcluster) or start PostgreSQL on port $PG_PORT"
	ver=$(basename "$(dirname "$conf")")
	say "postgres: starting cluster $ver/main"
	pg_ctlcluster "$ver" main start >>"$LOGS/postgres.log" 2>&1 ||
		die "pg_ctlcluster $ver main start failed (log: $LOGS/postgres.log)"
	echo "$ver main" >"$PIDS/postgres.cluster"
	wait_port "$PG_PORT" postgresql 30 "$LOGS/postgres.log"
}

pg_url() { # pg_url DB
	echo "postgres://$PG_USER@$HOST:$PG_PORT/$1?sslmode=disable"
}

create_database() {
	local exists
	exists=$(psql "$(pg_url postgres)" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" 2>"$LOGS/psql.log") ||
		die "cannot query PostgreSQL as $PG_USER on $HOST:$PG_PORT (set PGPASSWORD or ONSTAGE_CLUSTER_PG_USER; log: $LOGS/psql.log)"
	if [[ $exists != 1 ]]; then
		say "postgres: creating database $PG_DB"
		psql "$(pg_url postgres)" -qc "CREATE DATABASE $PG_DB" >>"$LOGS/psql.log" 2>&1 ||
			die "could not create database $PG_DB (log: $LOGS/psql.log)"
	fi
}

jwt_secret() {
	if [[ -n ${ONSTAGE_AUTH_JWT_SECRET:-} ]]; then
		[[ ${#ONSTAGE_AUTH_JWT_SECRET} -ge 32 ]] || die "ONSTAGE_AUTH_JWT_SECRET must be at least 32 characters"
		printf '%s' "$ONSTAGE_AUTH_JWT_SECRET"
		return
	fi
	if [[ ! -s $RUN/jwt.secret ]]; then
		(umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/jwt.secret")
	fi
	cat "$RUN/jwt.secret"
}

build() {
	need go golang-go
	say "building onstage"
	(cd "$ROOT" && go build -o "$BIN.new" ./cmd/onstage) >"$LOGS/build.log" 2>&1 ||
		{
			tail -n 30 "$LOGS/build.log" >&2
			die "go build ./cmd/onstage failed (log: $LOGS/build.log)"
		}
	mv -f "$BIN.new" "$BIN"
}

# node_env I: the environment of node I, one NAME=VALUE a line. The cluster suite opens up to
# 20 sockets for one user (placement spread), more than the default per-user cap of 8.
node_env() {
	local i=$1 port udp
	port=$(node_port "$i")
	udp=$((UDP_BASE + i - 1))
	cat <<EOF
ONSTAGE_NODE_ID=node-$i
ONSTAGE_DATA_DIR=$RUN/node-$i
ONSTAGE_HTTP_ADDR=$HOST:$port
ONSTAGE_HTTP_PUBLIC_URL=http://$HOST:$LB_PORT
ONSTAGE_HTTP_TRUSTED_PROXIES=$HOST
ONSTAGE_DATABASE_DSN=$(pg_url "$PG_DB")
ONSTAGE_REDIS_URL=redis://$HOST:$REDIS_PORT/$REDIS_DB
ONSTAGE_NATS_URL=nats://$HOST:$NATS_PORT
ONSTAGE_MEDIA_UDP_MUX_PORT=$udp
ONSTAGE_MEDIA_INCLUDE_LOOPBACK=true
ONSTAGE_CLUSTER_ADVERTISE=$HOST
ONSTAGE_CLUSTER_HTTP_ADDR=http://$HOST:$port
ONSTAGE_CLUSTER_PLACEMENT=$PLACEMENT
ONSTAGE_SIGNALING_MAX_CONNS_PER_USER=32
EOF
	[[ -z $DRAIN_TIMEOUT ]] || echo "ONSTAGE_CLUSTER_DRAIN_TIMEOUT=$DRAIN_TIMEOUT"
}

start_node() {
	local i=$1 port env=()
	port=$(node_port "$i")
	if alive "node-$i"; then
		say "node-$i: running on $HOST:$port"
		return
	fi
	listening "$port" && die "port $HOST:$port is taken by another program; set ONSTAGE_CLUSTER_HTTP_PORT"
	mkdir -p "$RUN/node-$i"
	mapfile -t env < <(node_env "$i")
	say "node-$i: starting on $HOST:$port (UDP $((UDP_BASE + i - 1)))"
	launch "node-$i" "$BIN serve" "$LOGS/node-$i.log" \
		env "ONSTAGE_AUTH_JWT_SECRET=$SECRET" "${env[@]}" "$BIN" serve
}

wait_ready() { # wait_ready I
	local i=$1 port n
	port=$(node_port "$i")
	for ((n = 0; n < 300; n++)); do
		[[ $(http_code "http://$HOST:$port/readyz") == 200 ]] && return 0
		alive "node-$i" || break
		sleep 0.1
	done
	tail -n 30 "$LOGS/node-$i.log" >&2
	die "node-$i is not ready on http://$HOST:$port/readyz (log: $LOGS/node-$i.log)"
}

write_nginx_conf() {
	local i user=""
	[[ $EUID -eq 0 ]] && user="user $(id -un) $(id -gn);"
	mkdir -p "$RUN/nginx/tmp"
	{
		cat <<EOF
# Generated by scripts/cluster.sh; rewritten by every "up".
$user
worker_processes 1;
pid $RUN/nginx/nginx.pid;
error_log $LOGS/nginx-error.log warn;
events { worker_connections 4096; }
http {
  # The path without the query: browsers pass their token in /ws?token=…, keep it out of logs.
  log_format onstage '\$remote_addr [\$time_local] "\$request_method \$uri" \$status \$body_bytes_sent '
                     '\$request_time upstream=\$upstream_addr';
  access_log $LOGS/nginx-access.log onstage;
  client_body_temp_path $RUN/nginx/tmp/body;
  proxy_temp_path $RUN/nginx/tmp/proxy;
  fastcgi_temp_path $RUN/nginx/tmp/fastcgi;
  uwsgi_temp_path $RUN/nginx/tmp/uwsgi;
  scgi_temp_path $RUN/nginx/tmp/scgi;

  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ''      '';
  }

  upstream onstage {
    # Round robin: any node takes any request or WebSocket (docs/cluster.md).
EOF
		for ((i = 1; i <= NODES; i++)); do
			echo "    server $HOST:$(node_port "$i") max_fails=1 fail_timeout=2s;"
		done
		cat <<EOF
    keepalive 16;
  }

  server {
    listen $HOST:$LB_PORT;
    location / {
      proxy_pass http://onstage;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      # WebSockets stay open for a whole meeting; the server pings every few seconds.
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
      proxy_next_upstream error timeout http_502 http_503;
      client_max_body_size 2m;
    }
  }
}
EOF
	} >"$RUN/nginx/nginx.conf"
}

start_nginx() {
	need nginx nginx
	write_nginx_conf
	nginx -t -q -e "$LOGS/nginx-test.log" -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" >"$LOGS/nginx-test.out" 2>&1 || {
		cat "$LOGS/nginx-test.out" >&2
		die "nginx rejects $RUN/nginx/nginx.conf"
	}
	if alive nginx; then
		say "nginx: running on $HOST:$LB_PORT; reloading its config"
		kill -HUP "$(<"$PIDS/nginx.pid")"
		return
	fi
	listening "$LB_PORT" && die "port $HOST:$LB_PORT is taken by another program; set ONSTAGE_CLUSTER_LB_PORT"
	say "nginx: starting on $HOST:$LB_PORT"
	launch nginx "$RUN/nginx/nginx.conf" "$LOGS/nginx.log" \
		nginx -e "$LOGS/nginx-error.log" -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;'
	wait_port "$LB_PORT" nginx 10 "$LOGS/nginx-error.log"
}

cmd_up() {
	check_settings
	mkdir -p "$RUN/bin" "$PIDS" "$LOGS"
	start_nats
	start_redis
	start_postgres
	create_database
	SECRET=$(jwt_secret)
	local i missing=0
	for ((i = 1; i <= NODES; i++)); do
		alive "node-$i" || missing=1
	done
	if ((missing)); then
		build
		say "migrating database $PG_DB"
		env "ONSTAGE_AUTH_JWT_SECRET=$SECRET" "ONSTAGE_DATA_DIR=$RUN/node-1" \
			"ONSTAGE_DATABASE_DSN=$(pg_url "$PG_DB")" "$BIN" migrate >"$LOGS/migrate.log" 2>&1 ||
			{
				tail -n 20 "$LOGS/migrate.log" >&2
				die "onstage migrate failed (log: $LOGS/migrate.log)"
			}
	fi
	for ((i = 1; i <= NODES; i++)); do
		start_node "$i"
	done
	for ((i = 1; i <= NODES; i++)); do
		wait_ready "$i"
	done
	start_nginx
	local code n
	for ((n = 0; n < 50; n++)); do
		code=$(http_code "http://$HOST:$LB_PORT/readyz")
		[[ $code == 200 ]] && break
		sleep 0.1
	done
	[[ $code == 200 ]] || die "http://$HOST:$LB_PORT/readyz answered '$code' through nginx (log: $LOGS/nginx-error.log)"
	say "up: http://$HOST:$LB_PORT (nodes on $HOST:$HTTP_PORT-$(node_port "$NODES"); run dir $RUN)"
}

# stop NAME [SECONDS]: TERM the recorded process, wait up to SECONDS (20), then KILL.
stop() {
	local name=$1 wait=${2:-20} pid n
	if ! alive "$name"; then
		rm -f "$PIDS/$name.pid" "$PIDS/$name.cmd"
		return
	fi
	pid=$(<"$PIDS/$name.pid")
	say "$name: stopping (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((n = 0; n < wait * 10; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name: still running after $wait s; killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDS/$name.pid" "$PIDS/$name.cmd"
}

cmd_down() {
	if [[ ! -d $PIDS ]]; then
		say "down: nothing was started from $RUN"
		return
	fi
	local f name
	stop nginx
	# Nodes in parallel: each drains (cluster.drain_timeout, 30 s by default), then shuts down.
	for f in "$PIDS"/node-*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		stop "$name" 60 &
	done
	wait
	stop redis
	stop nats
	if [[ -f $PIDS/postgres.cluster ]]; then
		local ver cl
		read -r ver cl <"$PIDS/postgres.cluster"
		say "postgres: stopping cluster $ver/$cl"
		pg_ctlcluster "$ver" "$cl" stop >>"$LOGS/postgres.log" 2>&1 || say "postgres: stop failed (log: $LOGS/postgres.log)"
		rm -f "$PIDS/postgres.cluster"
	fi
	say "down: stopped (logs and data kept in $RUN)"
}

cmd_status() {
	local i port code rc=0 who
	for who in nats:"$NATS_PORT" redis:"$REDIS_PORT" postgres:"$PG_PORT"; do
		local name=${who%%:*} p=${who#*:} by="external"
		{ alive "$name" || [[ -f $PIDS/$name.cluster ]]; } && by="started by this script"
		if listening "$p"; then
			say "$name: up on $HOST:$p ($by)"
		else
			say "$name: DOWN on $HOST:$p"
			rc=1
		fi
	done
	for ((i = 1; i <= NODES; i++)); do
		port=$(node_port "$i")
		code=$(http_code "http://$HOST:$port/readyz")
		if alive "node-$i"; then
			say "node-$i: pid $(<"$PIDS/node-$i.pid") on $HOST:$port, /readyz $code"
		else
			if [[ $code == 000 ]]; then say "node-$i: not running"; else say "node-$i: not started by this script (port $port answers $code)"; fi
		fi
		[[ $code == 200 ]] || rc=1
	done
	code=$(http_code "http://$HOST:$LB_PORT/readyz")
	if alive nginx; then
		say "nginx: pid $(<"$PIDS/nginx.pid") on $HOST:$LB_PORT, /readyz $code"
	else
		say "nginx: not running"
	fi
	[[ $code == 200 ]] || rc=1
	return $rc
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
