"""API key lists and role mappings: grants per environment, and misconfiguration named in plain words."""

import json

import pytest

from shared.domain.access import AccessConfigError, find_key, grant_of_token, parse_api_keys, parse_role_grants

LONG = "k" * 32


def test_a_key_grants_only_its_environments():
    keys = parse_api_keys(json.dumps([{"name": "pos", "key": LONG, "environments": ["env-a"]}]))
    grant = find_key(keys, LONG).grant
    assert grant.allows("env-a") and not grant.allows("env-b") and not grant.allows(None)


def test_a_star_key_grants_every_environment():
    keys = parse_api_keys(json.dumps([{"name": "ops", "key": LONG, "environments": "*"}]))
    assert find_key(keys, LONG).grant.allows("anything")


def test_a_wrong_key_finds_nothing():
    keys = parse_api_keys(json.dumps([{"name": "pos", "key": LONG, "environments": ["env-a"]}]))
    assert find_key(keys, LONG[:-1] + "x") is None
    assert find_key(keys, "") is None
    assert find_key(keys, "\ud800") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not JSON"),
        ('{"name": "x"}', "JSON list"),
        (json.dumps([{"name": "x", "key": "short", "environments": "*"}]), "at least 32"),
        (json.dumps([{"name": "x", "key": LONG, "environments": []}]), "non-empty list"),
        (json.dumps([{"name": "x", "key": LONG, "environments": ["bad/env"]}]), "not an environment id"),
        (json.dumps([{"key": LONG, "environments": "*"}]), "name is missing"),
        (json.dumps([{"name": "x", "key": LONG, "environments": "*", "extra": 1}]), "only"),
        (
            json.dumps(
                [{"name": "a", "key": LONG, "environments": "*"}, {"name": "b", "key": LONG, "environments": "*"}]
            ),
            "twice",
        ),
    ],
)
def test_a_malformed_key_list_names_the_problem(text, words):
    with pytest.raises(AccessConfigError, match=words):
        parse_api_keys(text)


def test_roles_map_to_environments():
    grants = parse_role_grants(json.dumps({"env-a": ["R.A"], "env-b": ["R.B", "R.AB"], "*": ["R.Admin"]}))
    grant = grant_of_token({"oid": "u1", "roles": ["R.A", "R.AB", "unrelated"]}, grants)
    assert grant.allows("env-a") and grant.allows("env-b") and not grant.allows("env-c")
    assert grant.who == "entra:u1"
    assert grant_of_token({"roles": ["R.Admin"]}, grants).allows("env-c")


def test_a_token_without_roles_is_granted_nothing():
    grants = parse_role_grants(json.dumps({"env-a": ["R.A"]}))
    for claims in ({}, {"roles": "R.A"}, {"roles": [1, None]}):
        grant = grant_of_token(claims, grants)
        assert not grant.allows("env-a") and not grant.everything


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[]", "JSON object"),
        ('{"env/a": ["R"]}', "not an environment id"),
        ('{"env-a": []}', "non-empty"),
        ("{", "not JSON"),
    ],
)
def test_a_malformed_role_mapping_names_the_problem(text, words):
    with pytest.raises(AccessConfigError, match=words):
        parse_role_grants(text)
