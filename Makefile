.PHONY: demo test bench
demo:  ## import the bundled example into the embedded default (SQLite, in-process)
	scripts/demo.sh
test:  ## lint, types and the test suite against local PostgreSQL and Redis
	scripts/test.sh
