# Without DATABASE_URL, run, test and bench use a private PostgreSQL cluster
# under .data/ (see scripts/devdb.sh). With DATABASE_URL set, they use that.
SHELL := /bin/bash
GO ?= go
BIN := bin/gatehouse
DEV_ENV := if [ -z "$$DATABASE_URL" ]; then scripts/devdb.sh start && eval "$$(scripts/devdb.sh env)"; fi

.PHONY: run stop test bench fuzz build db

build:
	$(GO) build -o $(BIN) ./cmd/gatehouse

db:
	scripts/devdb.sh start

# run starts gatehouse on GATEHOUSE_ADDR (default :8080) with everything it
# needs: the database, a development master key and a staff account. The key
# file is created with mode 0600 (and tightened if an older run left it
# readable), because whoever reads it can decrypt the SCIM tokens that wait
# in unrevealed token deliveries.
run: build
	@set -e; $(DEV_ENV); \
	export GATEHOUSE_ENV=$${GATEHOUSE_ENV:-development}; \
	if [ -z "$$GATEHOUSE_MASTER_KEY$$GATEHOUSE_MASTER_KEY_FILE" ]; then \
		mkdir -p .data; chmod 700 .data; \
		if [ ! -s .data/master.key ]; then \
			rm -f .data/master.key; \
			(umask 077 && $(BIN) keys generate > .data/master.key); \
		fi; \
		chmod 600 .data/master.key; \
		export GATEHOUSE_MASTER_KEY_FILE=.data/master.key; \
	fi; \
	$(BIN) migrate; \
	$(BIN) dev-welcome; \
	exec $(BIN) serve

stop:
	scripts/devdb.sh stop

# test runs every test, browser and database tests included. It stops the
# private cluster when it started it.
test:
	@set -e; started=; \
	if [ -z "$$DATABASE_URL" ]; then \
		scripts/devdb.sh status >/dev/null 2>&1 || started=1; \
		scripts/devdb.sh start; eval "$$(scripts/devdb.sh env)"; \
	fi; \
	status=0; $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./... && FUZZTIME=$${FUZZTIME:-4s} scripts/fuzz.sh || status=$$?; \
	if [ -n "$$started" ]; then scripts/devdb.sh stop; fi; \
	exit $$status

bench:
	@set -e; $(DEV_ENV); $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/...

# fuzz runs each fuzz test for FUZZTIME (default 60s); make test runs them
# for a few seconds each.
fuzz:
	@set -e; $(DEV_ENV); scripts/fuzz.sh
