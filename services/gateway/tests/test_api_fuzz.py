"""schemathesis against the running gateway, every check, on SQLite and on PostgreSQL: no 5xx, no answer the
OpenAPI document does not describe, no valid data refused and no invalid data accepted. (`make bench` runs
a larger one: `python -m headshots_tools.api_fuzz`.)"""

import pytest

from headshots_tools.api_fuzz import fuzz
from headshots_tools.live_gateway import production_database_param


# The production database where one answers (CI has one), else SQLite: the suite's budget holds one run;
# `make bench` fuzzes both, with far more examples.
@pytest.mark.parametrize("database", production_database_param())
def test_schemathesis_finds_nothing(database, tmp_path):
    result = fuzz(database, examples=12, workdir=tmp_path)
    assert result.cases > 500, "the run covered the API"
    assert result.failures == [], "\n".join(result.failures) + "\n" + result.output[-4000:]
