"""schemathesis hooks for tests/test_api_contract.py (loaded through SCHEMATHESIS_HOOKS).

A generated ``store_id`` that is a valid integer becomes the test's own store (MC_FUZZ_STORE_ID),
so the calls reach the code behind the tenant wall; an invalid one (a string, a float, ...) is
kept, so the negative checks still see the API refuse it. Other ids stay as generated.
"""

import os

import schemathesis


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict):  # a negative case may replace the whole object
        return path_parameters
    value = path_parameters.get("store_id")
    if isinstance(value, int) and not isinstance(value, bool):
        path_parameters["store_id"] = int(os.environ["MC_FUZZ_STORE_ID"])
    return path_parameters
