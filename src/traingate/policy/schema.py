"""The JSON Schema of .traingate.yaml, for editors (yaml-language-server)."""

from __future__ import annotations

import json

from traingate.policy.model import Policy


def schema_json() -> str:
    schema = Policy.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://traingate.dev/schema/policy-v1.json"
    schema["title"] = "traingate policy (.traingate.yaml)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
