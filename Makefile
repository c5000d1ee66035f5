# The two commands of the README, and the checks CI runs.
.PHONY: demo test quick lint bench venv package

venv:
	@scripts/bootstrap

# The demo's NOC is a local nats-server: installed like the tests' packages when run as root.
demo:
	@scripts/bootstrap --with-demo-packages
	.venv/bin/nocraven demo

# The Debian package (dist/nocraven_VERSION_ARCH.deb); see packaging/README.md.
package:
	packaging/build-deb dist

test:
	@scripts/bootstrap --with-debian-packages
	.venv/bin/python -m pytest -q -p no:cacheprovider

# The inner loop: everything but the tests that start real servers and take long.
quick: venv
	.venv/bin/python -m pytest -q -p no:cacheprovider -m "not slow and not integration"

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: venv
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b; done
