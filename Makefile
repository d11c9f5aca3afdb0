# Tributary: `make demo` runs the main job on a built-in demo, `make test` runs the tests.
# Both expect MariaDB/MySQL on 127.0.0.1:3306 (root, no password) and PostgreSQL on 127.0.0.1:5432
# (trust auth, user root).

TRIBUTARY = node dist/cli/main.js
DEMO = $(TRIBUTARY) --config config/demo.yml

.PHONY: all install build demo test test-unit clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

install: node_modules/.package-lock.json

build: install
	npm run build

demo: build
	node dist/cli/demo.js setup
	$(DEMO) triggers install
	$(DEMO) triggers status
	node dist/cli/demo.js changes
	$(DEMO) sync --once
	node dist/cli/demo.js changes
	$(DEMO) sync --once
	$(DEMO) status
	node dist/cli/demo.js check

test: build
	npx jest --ci $(JEST_ARGS)

test-unit: install
	npx jest test/unit

clean:
	rm -rf dist
