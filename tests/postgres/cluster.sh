#!/usr/bin/env bash
# tests/postgres/cluster.sh: a throwaway PostgreSQL cluster for the tests and
# benchmarks of the PostgreSQL data store (docs/postgres.md). Never uses a
# server that happens to be running.
#
#   cluster.sh start DIR        create a cluster in DIR if there is none (initdb),
#                               start it on a free port of 127.0.0.1 and print its
#                               URL (also written to DIR/url). Restarting a stopped
#                               cluster keeps its data and its port.
#   cluster.sh stop DIR         stop it (nothing to do when it is not running)
#   cluster.sh run DIR CMD...   remove DIR, start a new cluster there, run CMD with
#                               the variables below set, and stop the cluster however
#                               CMD ends (failure, Ctrl-C); exits with CMD's status
#
# Variables exported to CMD by `run`:
#   TOPGUN_TEST_POSTGRES_URL      postgresql://topgun@127.0.0.1:PORT/postgres
#   TOPGUN_TEST_POSTGRES_CA       the PEM file of the CA that signed the server's
#                                 certificate (the server accepts TLS and plain TCP)
#   TOPGUN_TEST_POSTGRES_CLUSTER  the absolute path of this script, for tests that
#                                 start a cluster of their own (the restart test)
#
# The binaries come from $PG_BINDIR, else /usr/lib/postgresql/15/bin, else the
# newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`; when there are
# none and we are root, Debian's `postgresql` package is installed. initdb
# refuses to run as root, so as root every server command runs as the
# `postgres` user (created when missing), and the cluster lives in a
# directory under /tmp when that user cannot reach DIR.
#
# $TOPGUN_TEST_POSTGRES_CONF, when set, is appended to postgresql.conf of a
# new cluster (e.g. "shared_preload_libraries = 'auto_explain'" lines to
# look at plans).
#
# The cluster is tuned for tests, not for keeping data: fsync is off (the
# tests kill clients, never the server's machine), authentication is `trust`
# on 127.0.0.1 only, and the default collation is ICU's en-US (where keys do
# not sort by their bytes), so a query that forgets COLLATE "C" fails the
# ordering tests.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

find_bindir() {
	local dir
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
		echo "$PG_BINDIR"; return 0
	fi
	if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo /usr/lib/postgresql/15/bin; return 0
	fi
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
	if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
		pg_config --bindir; return 0
	fi
	return 1
}

bindir() {
	local dir
	if dir=$(find_bindir); then echo "$dir"; return 0; fi
	[ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql) or set PG_BINDIR"
	echo "cluster.sh: PostgreSQL not found, installing Debian's postgresql package" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
	find_bindir || die "apt-get installed postgresql but no initdb was found"
}

# Runs a command as the user that owns the cluster.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_owner() {
	[ "$(id -u)" -eq 0 ] || return 0
	id postgres >/dev/null 2>&1 && return 0
	useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres \
		|| die "cannot create the postgres user (initdb refuses to run as root)"
}

# The directory that holds the cluster's files for DIR: DIR/cluster itself,
# or (as root, when the postgres user cannot reach DIR) a directory in /tmp
# that DIR/cluster points to.
cluster_home() {
	local dir=$1 home
	if [ ! -e "$dir/cluster" ]; then
		mkdir -p "$dir/cluster"
		if [ "$(id -u)" -eq 0 ]; then
			chown postgres: "$dir/cluster"
			if ! runuser -u postgres -- test -w "$dir/cluster" 2>/dev/null; then
				rmdir "$dir/cluster"
				home=$(mktemp -d /tmp/topgun-pg.XXXXXX)
				chown postgres: "$home"
				ln -s "$home" "$dir/cluster"
			fi
		fi
	fi
	realpath "$dir/cluster"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_certificates() {
	local tls=$1
	command -v openssl >/dev/null || {
		[ "$(id -u)" -eq 0 ] || die "openssl not found: install it (Debian: apt-get install openssl)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >&2
	}
	mkdir -p "$tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-subj "/CN=topgun-storage test CA" -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tls/ext.cnf"
	openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
		-CAcreateserial -days 3650 -extfile "$tls/ext.cnf" -out "$tls/server.crt" 2>/dev/null
	chmod 0600 "$tls/server.key"
	[ "$(id -u)" -ne 0 ] || chown -R postgres: "$tls"
}

init_cluster() {
	local bin=$1 home=$2
	make_certificates "$home/tls"
	# ICU's en-US as the default collation where the server has ICU (15 and
	# later), otherwise the C.UTF-8 locale.
	if ! as_owner "$bin/initdb" -D "$home/data" -U topgun --auth=trust -E UTF8 -N \
		--locale=C.UTF-8 --locale-provider=icu --icu-locale=en-US >"$home/initdb.log" 2>&1; then
		rm -rf "$home/data"
		as_owner "$bin/initdb" -D "$home/data" -U topgun --auth=trust -E UTF8 -N \
			--locale=C.UTF-8 >>"$home/initdb.log" 2>&1 \
			|| { cat "$home/initdb.log" >&2; die "initdb failed"; }
	fi
	free_port >"$home/port"
	local sock="$home/sock"
	# A Unix socket path must fit in 107 bytes; without one, TCP only.
	if [ ${#sock} -gt 90 ]; then sock=""; else as_owner mkdir -p "$sock"; fi
	cat >>"$home/data/postgresql.conf" <<-EOF
		# topgun-storage test cluster (tests/postgres/cluster.sh)
		listen_addresses = '127.0.0.1'
		port = $(cat "$home/port")
		unix_socket_directories = '$sock'
		max_connections = 300
		fsync = off
		full_page_writes = off
		ssl = on
		ssl_cert_file = '$home/tls/server.crt'
		ssl_key_file = '$home/tls/server.key'
		log_min_messages = warning
	EOF
	if [ -n "${TOPGUN_TEST_POSTGRES_CONF:-}" ]; then
		printf '%s\n' "$TOPGUN_TEST_POSTGRES_CONF" >>"$home/data/postgresql.conf"
	fi
}

start() {
	local dir bin home port
	dir=$(realpath -m "$1")
	bin=$(bindir)
	ensure_owner
	home=$(cluster_home "$dir")
	[ -f "$home/data/PG_VERSION" ] || init_cluster "$bin" "$home"
	port=$(cat "$home/port")
	if ! as_owner "$bin/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t 60 start >/dev/null \
			|| { tail -n 30 "$home/server.log" >&2 || true; die "the server did not start"; }
	fi
	echo "postgresql://topgun@127.0.0.1:$port/postgres" | tee "$dir/url"
}

stop() {
	local dir bin home
	dir=$(realpath -m "$1")
	[ -e "$dir/cluster/data/PG_VERSION" ] || return 0
	bin=$(bindir)
	home=$(realpath "$dir/cluster")
	if as_owner "$bin/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$home/data" -m fast -w -t 60 stop >/dev/null
	fi
}

remove() {
	local dir target
	dir=$(realpath -m "$1")
	if [ -L "$dir/cluster" ]; then
		target=$(readlink "$dir/cluster")
		case "$target" in /tmp/topgun-pg.*) rm -rf "$target" ;; esac
	fi
	rm -rf "$dir"
}

run() {
	local url status
	RUN_DIR=$1
	shift
	[ $# -gt 0 ] || die "usage: cluster.sh run DIR CMD..."
	stop "$RUN_DIR" 2>/dev/null || true
	remove "$RUN_DIR"
	trap 'stop "$RUN_DIR" || true; remove "$RUN_DIR"' EXIT
	trap 'exit 130' INT TERM
	url=$(start "$RUN_DIR")
	echo "cluster.sh: PostgreSQL at $url (stopped when the command ends)" >&2
	export TOPGUN_TEST_POSTGRES_URL="$url"
	export TOPGUN_TEST_POSTGRES_CA="$(realpath "$RUN_DIR/cluster")/tls/ca.crt"
	export TOPGUN_TEST_POSTGRES_CLUSTER="$(realpath "$0")"
	status=0
	"$@" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "cluster.sh: the command failed ($status); the server's log ends with:" >&2
		tail -n 20 "$RUN_DIR/cluster/server.log" >&2 || true
	fi
	return "$status"
}

[ $# -ge 2 ] || die "usage: cluster.sh start|stop DIR, or cluster.sh run DIR CMD..."
cmd=$1
shift
case "$cmd" in
start) start "$1" ;;
stop) stop "$1" ;;
run) run "$@" ;;
*) die "unknown command $cmd (start, stop or run)" ;;
esac
