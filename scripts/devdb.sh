#!/usr/bin/env bash
# Runs a private PostgreSQL cluster for development and tests.
#
#   scripts/devdb.sh start   initialize (first time) and start the cluster
#   scripts/devdb.sh stop    stop it
#   scripts/devdb.sh env     print "export DATABASE_URL=..." for the running cluster
#   scripts/devdb.sh status  say whether it runs
#
# The cluster listens only on a unix socket, so it never collides with a
# server on port 5432. initdb refuses to run as root, so as root the cluster
# runs as the "postgres" user, in a directory under /var/tmp that this user
# can reach even when the checkout sits under a directory only root can enter.
# .data/pg is a symlink to that directory.
set -euo pipefail

# The cluster trusts every connection to its socket, and its logs can hold
# SQL with request data, so everything this script creates is private to its
# owner.
umask 077

top=$(cd "$(dirname "$0")/.." && pwd)
datadir="$top/.data"
dbname=gatehouse

find_bin() {
	local name=$1
	if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
	local candidate
	for candidate in /usr/lib/postgresql/*/bin/"$name"; do
		if [ -x "$candidate" ]; then echo "$candidate"; return; fi
	done
	echo "devdb: $name not found. Install PostgreSQL first, e.g. 'apt-get install postgresql' on Debian or Ubuntu." >&2
	exit 1
}

cluster_dir() {
	if [ "$(id -u)" = 0 ]; then
		local key
		key=$(printf '%s' "$top" | sha256sum | cut -c1-12)
		echo "/var/tmp/gatehouse-pg-$key"
	else
		echo "$datadir/pg"
	fi
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

owner() {
	if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

url() {
	local dir
	dir=$(cluster_dir)
	echo "postgres:///$dbname?host=$dir/socket&user=$(owner)&sslmode=disable&binary_parameters=yes"
}

start() {
	local initdb pg_ctl dir
	initdb=$(find_bin initdb)
	pg_ctl=$(find_bin pg_ctl)
	dir=$(cluster_dir)
	mkdir -p "$datadir"
	chmod 700 "$datadir"
	if [ "$(id -u)" = 0 ]; then
		mkdir -p "$dir"
		chown postgres: "$dir"
		chmod 700 "$dir"
		ln -sfn "$dir" "$datadir/pg"
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner mkdir -p -m 700 "$dir" "$dir/data" "$dir/socket"
		as_owner "$initdb" --pgdata="$dir/data" --auth=trust --encoding=UTF8 --locale=C.UTF-8 --username="$(owner)" >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	if as_owner "$pg_ctl" status --pgdata="$dir/data" >/dev/null 2>&1; then
		return 0
	fi
	as_owner "$pg_ctl" start --pgdata="$dir/data" --wait --log="$dir/postgres.log" \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir/socket' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null ||
		{ tail -n 20 "$dir/postgres.log" >&2; exit 1; }
	if ! as_owner psql -h "$dir/socket" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$dbname'" | grep -q 1; then
		as_owner psql -h "$dir/socket" -d postgres -qc "CREATE DATABASE $dbname" >/dev/null
	fi
}

stop() {
	local pg_ctl dir
	pg_ctl=$(find_bin pg_ctl)
	dir=$(cluster_dir)
	if [ -f "$dir/data/PG_VERSION" ] && as_owner "$pg_ctl" status --pgdata="$dir/data" >/dev/null 2>&1; then
		as_owner "$pg_ctl" stop --pgdata="$dir/data" --mode=fast --wait >/dev/null
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) echo "export DATABASE_URL='$(url)'" ;;
url) url ;;
status)
	dir=$(cluster_dir)
	if as_owner "$(find_bin pg_ctl)" status --pgdata="$dir/data" >/dev/null 2>&1; then echo "running: $(url)"; else echo "stopped"; exit 3; fi
	;;
*) echo "usage: $0 start|stop|env|url|status" >&2; exit 2 ;;
esac
