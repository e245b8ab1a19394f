# The test suite's fixtures (tests/fixtures.py), for tests/ and for the tests that live
# beside the code they test (web/api/*/tests/). e2e/ has its own configuration.
pytest_plugins = ["tests.fixtures"]
